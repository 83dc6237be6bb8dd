//! The command-line verbs, one file each; `main.rs` only parses arguments.

pub mod check;
pub mod export;
pub mod init;
pub mod inspect;
pub mod keys;
pub mod reload;
pub mod serve;

/// Threads for loading layers: the given number, or all cores.
pub fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
}
