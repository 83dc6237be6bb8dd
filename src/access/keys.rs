//! API keys for the internal view: creation, listing, revocation and authentication.
//!
//! A key is 256 random bits shown once (`chizu_` + 64 hex digits); the keys file keeps only
//! its SHA-256 with the key's name, roles and creation time. Keys are random, not
//! passwords, so a plain cryptographic hash suffices (no stretching). Authentication
//! compares the presented key's hash with every stored hash in constant time and never
//! stops early, so timing does not depend on which key, or how much of one, matched.
//! The file is re-read when it changes on disk, so `chizu keys revoke` takes effect on a
//! running server at its next request.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Principal;
use crate::config::LayerId;

/// Prefix that makes a chizu key recognisable in logs and secret scanners.
const KEY_PREFIX: &str = "chizu_";

/// Result of key-file operations.
pub type Result<T> = std::result::Result<T, KeyError>;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The keys file could not be read or written.
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The keys file is not valid.
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    /// A key name or role is not a safe slug.
    #[error("{0}")]
    Invalid(String),
    /// `keys add` with a name already in use.
    #[error("a key named `{0}` already exists; revoke it first or pick another name")]
    Exists(String),
    /// `keys revoke` of a name that is not there.
    #[error("no key named `{0}`")]
    NotFound(String),
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// One stored key: never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub name: String,
    pub roles: Vec<String>,
    /// RFC 3339, UTC.
    pub created: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default, rename = "key")]
    keys: Vec<KeyEntry>,
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new random key.
pub fn generate_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(format!("{KEY_PREFIX}{}", hex(&bytes)))
}

fn check_slug(what: &str, s: &str) -> Result<()> {
    LayerId::parse(s).map(|_| ()).map_err(|_| {
        KeyError::Invalid(format!(
            "`{s}` is not a valid {what}: use a-z, 0-9, `_`, `-` (e.g. \"doro-kanri\")"
        ))
    })
}

fn read_file(path: &Path) -> Result<KeysFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| KeyError::Parse {
            file: path.into(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeysFile::default()),
        Err(source) => Err(KeyError::Io {
            file: path.into(),
            source,
        }),
    }
}

fn write_file(path: &Path, f: &KeysFile) -> Result<()> {
    let io = |source| KeyError::Io {
        file: path.into(),
        source,
    };
    let text = toml::to_string(f).map_err(|e| KeyError::Parse {
        file: path.into(),
        message: e.to_string(),
    })?;
    let body = format!(
        "# chizu API keys: names, roles and SHA-256 hashes only (the keys were shown once).\n# Manage with `chizu keys add|list|revoke`.\n{text}"
    );
    // Write beside and rename, so a running server never reads half a file.
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, body).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Adds a key; returns the key, which is not stored and cannot be shown again.
pub fn add(path: &Path, name: &str, roles: &[String]) -> Result<String> {
    check_slug("key name", name)?;
    if roles.is_empty() {
        return Err(KeyError::Invalid(
            "give at least one --role (e.g. --role doro-kanri, or --role admin)".into(),
        ));
    }
    for r in roles {
        check_slug("role", r)?;
    }
    let mut f = read_file(path)?;
    if f.keys.iter().any(|k| k.name == name) {
        return Err(KeyError::Exists(name.into()));
    }
    let key = generate_key()?;
    let roles: BTreeSet<String> = roles.iter().cloned().collect();
    f.keys.push(KeyEntry {
        name: name.into(),
        roles: roles.into_iter().collect(),
        created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        sha256: hex(&hash(&key)),
    });
    write_file(path, &f)?;
    Ok(key)
}

/// The stored keys (names, roles, creation times).
pub fn list(path: &Path) -> Result<Vec<KeyEntry>> {
    Ok(read_file(path)?.keys)
}

/// Removes a key by name.
pub fn revoke(path: &Path, name: &str) -> Result<()> {
    let mut f = read_file(path)?;
    let before = f.keys.len();
    f.keys.retain(|k| k.name != name);
    if f.keys.len() == before {
        return Err(KeyError::NotFound(name.into()));
    }
    write_file(path, &f)
}

/// Keys loaded for authentication.
#[derive(Debug, Default)]
struct Loaded {
    entries: Vec<([u8; 32], Principal)>,
    /// What the file looked like when read; `None` if it did not exist.
    stamp: Option<Stamp>,
}

/// A keys file's identity and times: its change time (`ctime`, which `touch -r` cannot set
/// back) and inode catch a file replaced with an old modification time.
type Stamp = (SystemTime, u64, i64, i64, u64);

/// The keys a running server accepts: the keys file, re-read when it changes, plus any
/// keys held only in memory (the `--demo-key` of `serve`).
pub struct KeyRing {
    path: PathBuf,
    loaded: ArcSwap<Loaded>,
    extra: Vec<([u8; 32], Principal)>,
    reload: Mutex<()>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (ctime, ctime_ns, ino) = {
        use std::os::unix::fs::MetadataExt as _;
        (m.ctime(), m.ctime_nsec(), m.ino())
    };
    #[cfg(not(unix))]
    let (ctime, ctime_ns, ino) = (0, 0, 0);
    Some((m.modified().ok()?, m.len(), ctime, ctime_ns, ino))
}

fn load(path: &Path) -> Result<Loaded> {
    let stamp = stamp(path);
    let f = read_file(path)?;
    let mut entries = Vec::with_capacity(f.keys.len());
    for k in f.keys {
        let Some(h) = unhex(&k.sha256) else {
            return Err(KeyError::Parse {
                file: path.into(),
                message: format!("key `{}`: sha256 is not 64 hex digits", k.name),
            });
        };
        entries.push((
            h,
            Principal {
                name: k.name,
                roles: k.roles.into_iter().collect(),
            },
        ));
    }
    Ok(Loaded { entries, stamp })
}

impl KeyRing {
    /// Reads the keys file (a missing file means no keys yet).
    pub fn open(path: &Path) -> Result<Self> {
        let loaded = load(path)?;
        Ok(Self {
            path: path.into(),
            loaded: ArcSwap::from_pointee(loaded),
            extra: Vec::new(),
            reload: Mutex::new(()),
        })
    }

    /// Adds an in-memory key valid for this process only; returns it.
    pub fn add_ephemeral(&mut self, name: &str, roles: &[&str]) -> Result<String> {
        let key = generate_key()?;
        let principal = Principal {
            name: name.into(),
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
        };
        self.extra.push((hash(&key), principal));
        Ok(key)
    }

    /// How many keys are accepted now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.loaded.load().entries.len() + self.extra.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-reads the file if it changed since it was read. A file that cannot be read or
    /// parsed refuses every file key (fail closed: a broken edit must not keep revoked keys
    /// valid), said once per change; a deleted file means no file keys.
    fn refresh(&self) {
        let now = stamp(&self.path);
        if now == self.loaded.load().stamp {
            return;
        }
        let Ok(_guard) = self.reload.lock() else {
            return;
        };
        if now == self.loaded.load().stamp {
            return;
        }
        match load(&self.path) {
            Ok(l) => self.loaded.store(std::sync::Arc::new(l)),
            Err(e) => {
                tracing::error!("keys file is broken: every key is refused until it is fixed: {e}");
                self.loaded.store(std::sync::Arc::new(Loaded {
                    entries: Vec::new(),
                    stamp: now,
                }));
            }
        }
    }

    /// The principal holding `key`, if any. Constant time over all keys.
    pub fn authenticate(&self, key: &str) -> Option<Principal> {
        self.refresh();
        let presented = hash(key);
        let loaded = self.loaded.load();
        let mut found: Option<&Principal> = None;
        for (h, p) in loaded.entries.iter().chain(&self.extra) {
            // No early exit: every stored hash is compared.
            if bool::from(h.ct_eq(&presented)) {
                found = Some(p);
            }
        }
        found.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_authenticate_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let key = add(&path, "tanaka", &["doro-kanri".into()]).expect("added");
        assert!(key.starts_with("chizu_") && key.len() == 6 + 64);
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(!text.contains(&key[6..]), "the key itself is never stored");
        let ring = KeyRing::open(&path).expect("ring");
        let p = ring.authenticate(&key).expect("accepted");
        assert_eq!(p.name, "tanaka");
        assert!(p.roles.contains("doro-kanri"));
        assert!(ring.authenticate("chizu_0000").is_none());
        assert!(matches!(
            add(&path, "tanaka", &["x".into()]),
            Err(KeyError::Exists(_))
        ));
        revoke(&path, "tanaka").expect("revoked");
        assert!(
            ring.authenticate(&key).is_none(),
            "revocation applies to a running ring"
        );
        assert!(matches!(
            revoke(&path, "tanaka"),
            Err(KeyError::NotFound(_))
        ));
    }

    #[test]
    fn names_and_roles_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        assert!(add(&path, "Bad Name", &["a".into()]).is_err());
        assert!(add(&path, "ok", &["Bad Role".into()]).is_err());
        assert!(add(&path, "ok", &[]).is_err());
    }

    #[test]
    fn hex_roundtrip() {
        let h = hash("x");
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
    }
}
