//! PLATEAU / i-UR codelists: a `gml:Dictionary` of `gml:Definition`s, each a code
//! (`gml:name`) and its meaning (`gml:description`). GDAL's GML driver drops the
//! `codeSpace` that names the list, so a layer file names it (`codelist = "…xml"`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{IngestError, Result};
use crate::config::I18n;

/// Most bytes a codelist may have (the national ones are under 1 MB).
const MAX_BYTES: u64 = 16 << 20;

/// Code → label. English is the national English name where chizu knows one (用途地域),
/// else the Japanese text.
pub fn read(file: &Path) -> Result<BTreeMap<String, I18n>> {
    let bad = |message: String| IngestError::Open {
        file: file.to_path_buf(),
        message,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if size > MAX_BYTES {
        return Err(bad(format!("{size} bytes is too large for a codelist")));
    }
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    parse(&text).map_err(bad)
}

/// Parses a codelist document.
pub fn parse(text: &str) -> std::result::Result<BTreeMap<String, I18n>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    if doc.root_element().tag_name().name() != "Dictionary" {
        return Err("not a codelist: expected a gml:Dictionary".into());
    }
    let child = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let mut out = BTreeMap::new();
    for d in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "Definition")
    {
        let (Some(code), Some(desc)) = (child(d, "name"), child(d, "description")) else {
            continue;
        };
        let en = crate::config::zoning::find_by_name(&desc)
            .map_or_else(|| desc.clone(), |z| z.en.to_string());
        out.insert(code, I18n { ja: desc, en });
    }
    if out.is_empty() {
        return Err(
            "the codelist defines no codes (no gml:Definition with a name and a description)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_definitions() {
        let xml = r#"<?xml version="1.0"?><gml:Dictionary xmlns:gml="http://www.opengis.net/gml">
<gml:name>x</gml:name>
<gml:dictionaryEntry><gml:Definition gml:id="a"><gml:description>第1種住居地域</gml:description><gml:name>5</gml:name></gml:Definition></gml:dictionaryEntry>
<gml:dictionaryEntry><gml:Definition gml:id="b"><gml:description>風致地区</gml:description><gml:name>21</gml:name></gml:Definition></gml:dictionaryEntry>
</gml:Dictionary>"#;
        let m = super::parse(xml).expect("parses");
        assert_eq!(m["5"].ja, "第1種住居地域");
        assert_eq!(m["5"].en, "Category 1 residential");
        assert_eq!(m["21"].en, "風致地区");
        assert!(super::parse("<a/>").is_err());
    }
}
