//! Place and name search: 町丁目 and the configured name fields of layers (shelter names,
//! their kana readings …), prefix and partial, insensitive to width (NFKC), case and
//! hiragana/katakana.

use std::fmt::Write as _;
use unicode_normalization::UnicodeNormalization;

use crate::access::View;
use crate::store::{LayerSnapshot, Value};

/// Folds a name for matching: NFKC (full-width → half-width, ㈱ → (株)), lower case,
/// katakana → hiragana, small ヶ/ヵ → け/か, spaces and ・ removed, and an address's
/// 丁目・番地・番・号 after a number written as `-` (本町5丁目9番1号 = 本町5-9-1).
#[must_use]
pub fn fold(s: &str) -> String {
    let folded: String = s
        .nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && *c != '・')
        .map(|c| match c {
            'ヶ' | 'ゖ' => 'け',
            'ヵ' | 'ゕ' => 'か',
            // Katakana ァ..ヶ map onto hiragana ぁ..ゖ 0x60 code points lower.
            '\u{30A1}'..='\u{30F6}' => char::from_u32(u32::from(c) - 0x60).unwrap_or(c),
            // Dashes people type in addresses (not ー, which is part of names).
            '−' | '‐' | '‑' | '–' | '—' => '-',
            _ => c,
        })
        .collect();
    let mut out = String::with_capacity(folded.len());
    let mut rest = folded.as_str();
    while let Some(c) = rest.chars().next() {
        if out.ends_with(|p: char| p.is_ascii_digit()) {
            if let Some(unit) = ["丁目", "番地", "番", "号"]
                .iter()
                .find(|u| rest.starts_with(**u))
            {
                out.push('-');
                rest = &rest[unit.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if out.ends_with('-') && folded.ends_with(['目', '地', '番', '号']) {
        out.pop();
    }
    out
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

/// A feature's name in rōmaji, made from the first of its layer's search fields that holds
/// a kana reading the caller may see (a 町丁目's 読み, a shelter's ふりがな), for pages in
/// English where the data has no English name. `name` is the feature's name as written
/// (its 丁目 number is kept as a number).
#[must_use]
pub fn romaji_name(
    layer: &LayerSnapshot,
    f: &crate::store::Feature,
    view: &View,
    name: &str,
) -> Option<String> {
    layer.def.search.iter().find_map(|n| {
        let i = layer.field_index(n)?;
        if !view.sees_field(&layer.def, &layer.fields[i]) {
            return None;
        }
        match f.values.get(i)? {
            Value::Str(kana) => super::romaji::place_name(name, kana),
            _ => None,
        }
    })
}

/// Searches `layers` for `q`; best matches first (exact, prefix, partial; shorter names first).
#[must_use]
pub fn search(layers: &[&LayerSnapshot], view: &View, q: &str, limit: usize) -> Vec<Hit> {
    let q = fold(q);
    if q.is_empty() {
        return Vec::new();
    }
    // A query in Latin letters is also matched against the rōmaji of kana readings.
    let latin = q
        .chars()
        .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '\'');
    let qr = if latin {
        super::romaji::key(&q)
    } else {
        String::new()
    };
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
            let q = if e.romaji {
                if qr.is_empty() {
                    continue;
                }
                qr.as_str()
            } else {
                q.as_str()
            };
            let matched = if *e.folded == *q {
                Match::Exact
            } else if e.folded.starts_with(q) {
                Match::Prefix
            } else if e.folded.contains(q) {
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
    // Best match first; among equals, places (町丁目, the base layers) before facilities,
    // then in natural order: 一丁目, 二丁目 … 十丁目, not the code-point order 一, 三, 二.
    let place = |h: &Hit| layers[h.layer].def.category != crate::config::Category::Kihon;
    hits.sort_by_cached_key(|h| (h.matched, place(h), natural_key(&h.name)));
    hits.truncate(limit);
    hits
}

/// A name with its numbers (ASCII, full-width or kanji numerals up to 9,999) replaced by
/// zero-padded digits, so names sort as people count.
#[must_use]
pub fn natural_key(name: &str) -> String {
    fn kanji_digit(c: char) -> Option<u32> {
        "〇一二三四五六七八九"
            .chars()
            .position(|k| k == c)
            .map(|i| i as u32)
    }
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let digit = c.to_digit(10).or_else(|| {
            let n = u32::from(c);
            (0xFF10..=0xFF19).contains(&n).then(|| n - 0xFF10)
        });
        if digit.is_some() {
            let mut n: u64 = 0;
            while let Some(d) = chars.get(i).and_then(|c| {
                c.to_digit(10).or_else(|| {
                    let n = u32::from(*c);
                    (0xFF10..=0xFF19).contains(&n).then(|| n - 0xFF10)
                })
            }) {
                n = n.saturating_mul(10).saturating_add(u64::from(d));
                i += 1;
            }
            let _ = write!(out, "{n:010}");
            continue;
        }
        if kanji_digit(c).is_some() || matches!(c, '十' | '百' | '千') {
            // 二十三 = 23, 十 = 10, 百五 = 105.
            let (mut total, mut current) = (0u64, 0u64);
            let mut any = false;
            while let Some(&k) = chars.get(i) {
                if let Some(d) = kanji_digit(k) {
                    current = current * 10 + u64::from(d);
                } else if let Some(m) = match k {
                    '十' => Some(10),
                    '百' => Some(100),
                    '千' => Some(1000),
                    _ => None,
                } {
                    total += current.max(1) * m;
                    current = 0;
                } else {
                    break;
                }
                any = true;
                i += 1;
            }
            if any {
                let _ = write!(out, "{:010}", total + current);
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_people_count() {
        let mut v = vec![
            "本町十丁目",
            "本町三丁目",
            "本町二丁目",
            "本町一丁目",
            "本町",
            "本町11",
            "本町２",
        ];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(
            v,
            [
                "本町",
                "本町一丁目",
                "本町２",
                "本町二丁目",
                "本町三丁目",
                "本町十丁目",
                "本町11"
            ]
        );
        assert_eq!(natural_key("二十三番"), format!("{:010}番", 23));
    }

    #[test]
    fn folding() {
        assert_eq!(fold("ニクコミュニティ"), fold("にくこみゅにてぃ"));
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(fold("鰯ヶ島"), fold("鰯ケ島"));
        assert_eq!(fold("中央 市・本町"), "中央市本町");
        assert_eq!(fold("本町５丁目９番１号"), "本町5-9-1");
        assert_eq!(fold("本町5丁目9番地の1"), "本町5-9-の1");
        assert_eq!(fold("中央区本町5−9−1"), "中央区本町5-9-1");
        assert_eq!(fold("一番町"), "一番町");
    }
}
