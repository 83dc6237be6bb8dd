//! Place and name search: 町丁目 and the configured name fields of layers (shelter names,
//! their kana readings …), prefix and partial, insensitive to width (NFKC), case and
//! hiragana/katakana.

use unicode_normalization::UnicodeNormalization;

use crate::access::View;
use crate::store::{LayerSnapshot, Value};

/// Folds a name for matching: NFKC (full-width → half-width, ㈱ → (株)), lower case,
/// katakana → hiragana, small ヶ/ヵ → け/か, spaces and ・ removed.
#[must_use]
pub fn fold(s: &str) -> String {
    s.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && *c != '・')
        .map(|c| match c {
            'ヶ' | 'ゖ' => 'け',
            'ヵ' | 'ゕ' => 'か',
            // Katakana ァ..ヶ map onto hiragana ぁ..ゖ 0x60 code points lower.
            '\u{30A1}'..='\u{30F6}' => char::from_u32(u32::from(c) - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// How well a name matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    Exact,
    Prefix,
    Partial,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub layer: usize,
    pub feature: usize,
    pub field: usize,
    pub matched: Match,
    /// The feature's name: its first search field (e.g. the name, when the kana matched).
    pub name: String,
    /// The value that matched, as written in the data.
    pub matched_text: String,
}

/// Searches `layers` for `q`; best matches first (exact, prefix, partial; shorter names first).
#[must_use]
pub fn search(layers: &[&LayerSnapshot], view: &View, q: &str, limit: usize) -> Vec<Hit> {
    let q = fold(q);
    if q.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = Vec::new();
    for (li, layer) in layers.iter().enumerate() {
        if !view.sees_layer(&layer.def) {
            continue;
        }
        for e in &layer.search {
            let (fi, field) = (e.feature as usize, e.field as usize);
            let visible = layer
                .fields
                .get(field)
                .is_some_and(|fd| view.sees_field(&layer.def, fd));
            if !visible || !layer.features.get(fi).is_some_and(|f| view.sees_feature(f)) {
                continue;
            }
            let matched = if *e.folded == *q {
                Match::Exact
            } else if e.folded.starts_with(&q) {
                Match::Prefix
            } else if e.folded.contains(&q) {
                Match::Partial
            } else {
                continue;
            };
            let text = |i: usize| match layer.features[fi].values.get(i) {
                Some(Value::Str(s)) => s.to_string(),
                Some(other) => other.key().unwrap_or_default(),
                None => String::new(),
            };
            let matched_text = text(field);
            // One hit per feature: the best of its fields.
            if let Some(h) = hits.iter_mut().find(|h| h.layer == li && h.feature == fi) {
                if matched < h.matched {
                    h.matched = matched;
                    h.field = field;
                    h.matched_text = matched_text;
                }
                continue;
            }
            let first = layer
                .def
                .search
                .first()
                .and_then(|n| layer.field_index(n))
                .unwrap_or(field);
            hits.push(Hit {
                layer: li,
                feature: fi,
                field,
                matched,
                name: text(first),
                matched_text,
            });
        }
    }
    hits.sort_by(|a, b| {
        a.matched
            .cmp(&b.matched)
            .then(a.name.chars().count().cmp(&b.name.chars().count()))
            .then(a.name.cmp(&b.name))
    });
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold("ニクコミュニティ"), fold("にくこみゅにてぃ"));
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(fold("鰯ヶ島"), fold("鰯ケ島"));
        assert_eq!(fold("中央 市・本町"), "中央市本町");
    }
}
