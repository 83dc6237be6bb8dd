//! The internal listener's audit log: one JSON line per request — time, key name, roles,
//! method, route, layers asked for, status — so a city can answer "who looked at what"
//! (個人情報保護). Never the key itself.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

/// One audited request.
#[derive(serde::Serialize)]
pub struct AuditLine<'a> {
    pub time: String,
    /// The key's name; `null` when no valid key was sent.
    pub key: Option<&'a str>,
    pub roles: Vec<&'a str>,
    pub method: &'a str,
    pub route: &'a str,
    pub layers: Vec<String>,
    pub status: u16,
    pub ms: f64,
}

impl AuditLog {
    /// Appends to `path` (created if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: Mutex::new(Box::new(f)),
        })
    }

    /// Writes to standard output.
    #[must_use]
    pub fn stdout() -> Self {
        Self {
            out: Mutex::new(Box::new(std::io::stdout())),
        }
    }

    /// Discards lines (for tests that do not look at them).
    #[must_use]
    pub fn sink() -> Self {
        Self {
            out: Mutex::new(Box::new(std::io::sink())),
        }
    }

    /// Writes one line; an error means it was not written (the caller refuses the request).
    pub fn record(&self, line: &AuditLine<'_>) -> std::io::Result<()> {
        let text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        writeln!(out, "{text}").and_then(|()| out.flush())
    }
}

/// The layer ids a request names: in the path (`/tiles/a,b/…`, `/tiles/a,b.json`,
/// `/collections/a/items`, `/download/a.csv`) or in a `layers=` parameter.
#[must_use]
pub fn layers_of<'a>(path: &'a str, query: Option<&'a str>) -> Vec<String> {
    let mut segs = path.trim_start_matches('/').split('/');
    let spec: Option<&str> = match (segs.next(), segs.next()) {
        (Some("tiles"), Some(spec)) => Some(spec.strip_suffix(".json").unwrap_or(spec)),
        (Some("collections"), Some(id)) => Some(id),
        (Some("download"), Some(file)) => Some(file.rsplit_once('.').map_or(file, |(id, _)| id)),
        _ => None,
    };
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "layers")
            .map(|(_, v)| v.into_owned())
    });
    let mut out: Vec<String> = Vec::new();
    for s in spec.into_iter().map(String::from).chain(from_query) {
        out.extend(
            s.split(',')
                .filter(|x| !x.is_empty())
                .take(64)
                .map(String::from),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_from_paths() {
        assert_eq!(layers_of("/tiles/a,b/1/2/3.mvt", None), vec!["a", "b"]);
        assert_eq!(layers_of("/tiles/a.json", None), vec!["a"]);
        assert_eq!(layers_of("/collections/a/items", None), vec!["a"]);
        assert_eq!(layers_of("/download/a.csv", None), vec!["a"]);
        assert_eq!(
            layers_of("/query", Some("lon=1&lat=2&layers=x,y")),
            vec!["x", "y"]
        );
        assert!(layers_of("/catalog", None).is_empty());
    }
}
