//! Configuration errors. Each names the file, and where it can, the key and what was expected.

use std::path::PathBuf;

/// Result of reading layer configuration.
pub type Result<T> = std::result::Result<T, ConfigError>;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or folder could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the layer schema (toml names the key and line).
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    /// A key parsed but holds a value chizu cannot use.
    #[error("{}: key `{key}`: {message}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
}
