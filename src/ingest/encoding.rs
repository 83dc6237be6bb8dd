//! Which text encoding a Shapefile's DBF uses, decided before GDAL opens it.
//!
//! Order: the layer file's override; the `.cpg` (where `Shift_JIS` and its spellings mean
//! CP932, because cities' software writes CP932 and a strict Shift_JIS decoder loses
//! 「Ⅰ」); the DBF language-driver byte (0x13 = CP932); else the record bytes — UTF-8 if
//! they decode as UTF-8, CP932 otherwise. The answer is handed to GDAL as the Shapefile
//! driver's `ENCODING` open option, so GDAL's recoder (iconv) does the decoding.

use std::path::Path;

use crate::config::Encoding;

/// Where the encoding came from, for `check` and `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingOrigin {
    /// `encoding = …` in the layer file.
    Override,
    /// The `.cpg` sidecar, with what it said.
    Cpg(String),
    /// The DBF header's language-driver id.
    LanguageDriver(u8),
    /// No `.cpg`: the record bytes were (not) valid UTF-8.
    Sniffed,
}

impl std::fmt::Display for EncodingOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodingOrigin::Override => f.write_str("layer file override"),
            EncodingOrigin::Cpg(s) => write!(f, ".cpg says \"{s}\""),
            EncodingOrigin::LanguageDriver(b) => {
                write!(f, "no .cpg; DBF language driver 0x{b:02X}")
            }
            EncodingOrigin::Sniffed => f.write_str("no .cpg; decided from the DBF bytes"),
        }
    }
}

/// An encoding decision: the name GDAL gets, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DetectedEncoding {
    pub name: String,
    pub origin: EncodingOrigin,
}

/// Decides the DBF encoding for a `.shp` or `.dbf` path; `None` for other formats.
pub fn detect(path: &Path, over: Option<Encoding>) -> std::io::Result<Option<DetectedEncoding>> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("shp" | "dbf")) {
        return Ok(None);
    }
    if let Some(e) = over {
        return Ok(Some(DetectedEncoding {
            name: e.gdal_name().into(),
            origin: EncodingOrigin::Override,
        }));
    }
    for cpg_ext in ["cpg", "CPG"] {
        let cpg = path.with_extension(cpg_ext);
        if let Ok(text) = std::fs::read(&cpg) {
            let said = String::from_utf8_lossy(&text).trim().to_string();
            let name = from_cpg(&said);
            return Ok(Some(DetectedEncoding {
                name,
                origin: EncodingOrigin::Cpg(said),
            }));
        }
    }
    let dbf = ["dbf", "DBF"]
        .iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.exists())
        .unwrap_or_else(|| path.with_extension("dbf"));
    let bytes = std::fs::read(&dbf)?;
    Ok(Some(sniff_dbf(&bytes)))
}

/// Maps a `.cpg` text to the name handed to GDAL.
fn from_cpg(said: &str) -> String {
    let norm: String = said
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    match norm.as_str() {
        "shiftjis" | "sjis" | "cp932" | "932" | "ms932" | "windows31j" | "ansi932" => {
            "CP932".into()
        }
        "utf8" | "65001" => "UTF-8".into(),
        "eucjp" | "20932" | "51932" => "EUC-JP".into(),
        _ => said.to_string(),
    }
}

/// Decides from a DBF file's bytes when there is no `.cpg`.
#[must_use]
pub fn sniff_dbf(bytes: &[u8]) -> DetectedEncoding {
    const LDID_CP932: u8 = 0x13;
    let ldid = bytes.get(29).copied().unwrap_or(0);
    if ldid == LDID_CP932 {
        return DetectedEncoding {
            name: "CP932".into(),
            origin: EncodingOrigin::LanguageDriver(ldid),
        };
    }
    let header_len = bytes
        .get(8..10)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let records = bytes.get(header_len..).unwrap_or(&[]);
    let name = if std::str::from_utf8(records).is_ok() {
        "UTF-8"
    } else {
        "CP932"
    };
    DetectedEncoding {
        name: name.into(),
        origin: EncodingOrigin::Sniffed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpg_spellings() {
        assert_eq!(from_cpg("Shift_JIS"), "CP932");
        assert_eq!(from_cpg("SJIS"), "CP932");
        assert_eq!(from_cpg("UTF-8"), "UTF-8");
        assert_eq!(from_cpg("65001"), "UTF-8");
        assert_eq!(from_cpg("ISO-8859-1"), "ISO-8859-1");
    }

    fn dbf(ldid: u8, records: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 33];
        b[8] = 33;
        b[29] = ldid;
        b.extend_from_slice(records);
        b
    }

    #[test]
    fn language_driver_wins() {
        assert_eq!(sniff_dbf(&dbf(0x13, b"abc")).name, "CP932");
    }

    #[test]
    fn non_utf8_bytes_mean_cp932() {
        // 「Ⅰ」 in CP932 is 0x87 0x54, which is not UTF-8.
        assert_eq!(sniff_dbf(&dbf(0, &[b' ', 0x87, 0x54])).name, "CP932");
        assert_eq!(sniff_dbf(&dbf(0, "Ⅰ".as_bytes())).name, "UTF-8");
    }
}
