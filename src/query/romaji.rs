//! Kana → rōmaji (Hepburn, without macrons, as on Japanese road signs), and a matching key
//! that lets a query typed in any common romanisation (Hepburn, kunrei, word-processor
//! style, with or without long vowels) find a name by its kana reading.

use unicode_normalization::UnicodeNormalization;

/// The Hepburn romanisation of `kana` (hiragana or katakana), or `None` when it holds
/// anything else (kanji, Latin letters …) and so is not a reading.
#[must_use]
pub fn from_kana(kana: &str) -> Option<String> {
    let chars: Vec<char> = kana.chars().map(to_hiragana).collect();
    if chars.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(chars.len() * 2);
    let mut double_next = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            'っ' => double_next = true,
            'ー' | ' ' | '　' | '・' => {}
            'ん' => out.push('n'),
            _ => {
                let base = syllable(c)?;
                let mut s = base.to_string();
                if let Some(&small) = chars.get(i + 1) {
                    if let Some(merged) = combine(base, small) {
                        s = merged;
                        i += 1;
                    }
                }
                if double_next {
                    if s.starts_with("ch") {
                        out.push('t');
                    } else if let Some(first) = s.chars().next().filter(|f| !"aiueo".contains(*f)) {
                        out.push(first);
                    }
                    double_next = false;
                }
                out.push_str(&s);
            }
        }
        i += 1;
    }
    Some(out)
}

/// `from_kana` with the first letter in capitals. Long vowels stay as the kana spell them
/// (ほうのうえ → Hounoue): which う lengthens a vowel depends on the words, which kana alone
/// do not tell.
#[must_use]
pub fn name_from_kana(kana: &str) -> Option<String> {
    let r = from_kana(kana)?;
    let mut c = r.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
}

/// A place's rōmaji name from its kana reading (Hepburn, each word capitalised; the
/// reading's spaces part the words). When `name` ends in a numbered 丁目 and the reading's
/// last word is that 丁目 (…ちょうめ), the number is written as addresses write it:
/// 駅北一丁目 read エキキタ イッチョウメ → "Ekikita 1-chome". `None` when the reading holds
/// anything but kana.
#[must_use]
pub fn place_name(name: &str, kana: &str) -> Option<String> {
    let words: Vec<&str> = kana.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let folded = crate::query::search::fold(w);
        if i + 1 == words.len() && i > 0 && folded.ends_with("ちょうめ") {
            if let Some(n) = choume_number(name) {
                out.push(format!("{n}-chome"));
                continue;
            }
        }
        out.push(name_from_kana(&folded)?);
    }
    (!out.is_empty()).then(|| out.join(" "))
}

/// The number of a name's 丁目 (本町一丁目 → 1, 本町10丁目 → 10).
fn choume_number(name: &str) -> Option<u64> {
    let key = crate::query::search::natural_key(name);
    let digits = key.strip_suffix("丁目")?;
    let start = digits.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| {
        i + digits[i..].chars().next().map_or(1, char::len_utf8)
    });
    digits[start..].parse().ok().filter(|n| *n > 0)
}

/// The key a romanised name is matched by: lower case letters only, kunrei and
/// word-processor spellings turned into Hepburn (si → shi, tu → tsu, nn → n …), long vowels
/// collapsed (ou, oo, oh → o; uu → u) and m before b, m, p written n.
#[must_use]
pub fn key(romaji: &str) -> String {
    // Decomposed, so ō is o and a combining macron, which is dropped.
    let s: String = romaji
        .nfd()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let b: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(b.len() + 4);
    let mut i = 0;
    while i < b.len() {
        let rest: String = b[i..b.len().min(i + 3)].iter().collect();
        let prev = out.chars().last();
        // Two- and three-letter spellings with one Hepburn form.
        let (from, to): (&str, &str) = [
            ("sya", "sha"),
            ("syu", "shu"),
            ("syo", "sho"),
            ("zya", "ja"),
            ("zyu", "ju"),
            ("zyo", "jo"),
            ("jya", "ja"),
            ("jyu", "ju"),
            ("jyo", "jo"),
            ("tya", "cha"),
            ("tyu", "chu"),
            ("tyo", "cho"),
            ("cya", "cha"),
            ("cyu", "chu"),
            ("cyo", "cho"),
            ("tch", "cch"),
            ("si", "shi"),
            ("ti", "chi"),
            ("tu", "tsu"),
            ("zi", "ji"),
            ("di", "ji"),
            ("du", "zu"),
        ]
        .into_iter()
        .find(|(f, _)| rest.starts_with(f))
        .unwrap_or(("", ""));
        // 'hu' → 'fu', but not inside 'shu', 'chu'.
        if from.is_empty() && rest.starts_with("hu") && !matches!(prev, Some('s' | 'c')) {
            out.push_str("fu");
            i += 2;
            continue;
        }
        if !from.is_empty() {
            out.push_str(to);
            i += from.len();
            continue;
        }
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == 'm' && matches!(next, Some('b' | 'm' | 'p')) {
            out.push('n');
        } else if c == 'n' && next == Some('n') {
            // ん typed as 'nn'.
            out.push('n');
            i += 1;
        } else {
            out.push(c);
        }
        i += 1;
    }
    collapse_long_vowels(&out)
}

/// ou, oo, uu → o, o, u; 'oh' before a consonant → o (Ohno → Ono).
fn collapse_long_vowels(s: &str) -> String {
    let b: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        out.push(c);
        let vowel_follows = |j: usize| b.get(j).is_some_and(|v| "aiueo".contains(*v));
        if c == 'o' && matches!(next, Some('u' | 'o')) || c == 'u' && next == Some('u') {
            i += 2;
            continue;
        }
        if c == 'o' && next == Some('h') && !vowel_follows(i + 2) && i + 2 < b.len() {
            i += 2;
            continue;
        }
        i += 1;
    }
    out
}

fn to_hiragana(c: char) -> char {
    match c {
        'ヵ' | 'ゕ' => 'か',
        'ヶ' | 'ゖ' => 'け',
        '\u{30A1}'..='\u{30F4}' => char::from_u32(u32::from(c) - 0x60).unwrap_or(c),
        _ => c,
    }
}

/// A small kana after `base` (きゃ, しゅ, ふぁ, てぃ …), merged into one syllable.
fn combine(base: &str, small: char) -> Option<String> {
    let stem = base.strip_suffix('i');
    match small {
        'ゃ' | 'ゅ' | 'ょ' => {
            let v = match small {
                'ゃ' => 'a',
                'ゅ' => 'u',
                _ => 'o',
            };
            let stem = stem?;
            Some(
                if stem.ends_with("sh") || stem.ends_with("ch") || stem.ends_with('j') {
                    format!("{stem}{v}")
                } else {
                    format!("{stem}y{v}")
                },
            )
        }
        'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' => {
            let v = match small {
                'ぁ' => 'a',
                'ぃ' => 'i',
                'ぅ' => 'u',
                'ぇ' => 'e',
                _ => 'o',
            };
            let stem = match base {
                "u" => "w",
                "chi" => "ch",
                "shi" => "sh",
                "ji" => "j",
                "tsu" => "ts",
                "te" => "t",
                "de" => "d",
                _ => base.strip_suffix(['a', 'i', 'u', 'e', 'o'])?,
            };
            Some(format!("{stem}{v}"))
        }
        _ => None,
    }
}

/// One hiragana syllable in Hepburn.
fn syllable(c: char) -> Option<&'static str> {
    #[rustfmt::skip]
    const TABLE: &[(char, &str)] = &[
        ('あ', "a"), ('い', "i"), ('う', "u"), ('え', "e"), ('お', "o"),
        ('か', "ka"), ('き', "ki"), ('く', "ku"), ('け', "ke"), ('こ', "ko"),
        ('さ', "sa"), ('し', "shi"), ('す', "su"), ('せ', "se"), ('そ', "so"),
        ('た', "ta"), ('ち', "chi"), ('つ', "tsu"), ('て', "te"), ('と', "to"),
        ('な', "na"), ('に', "ni"), ('ぬ', "nu"), ('ね', "ne"), ('の', "no"),
        ('は', "ha"), ('ひ', "hi"), ('ふ', "fu"), ('へ', "he"), ('ほ', "ho"),
        ('ま', "ma"), ('み', "mi"), ('む', "mu"), ('め', "me"), ('も', "mo"),
        ('や', "ya"), ('ゆ', "yu"), ('よ', "yo"),
        ('ら', "ra"), ('り', "ri"), ('る', "ru"), ('れ', "re"), ('ろ', "ro"),
        ('わ', "wa"), ('ゐ', "i"), ('ゑ', "e"), ('を', "o"),
        ('が', "ga"), ('ぎ', "gi"), ('ぐ', "gu"), ('げ', "ge"), ('ご', "go"),
        ('ざ', "za"), ('じ', "ji"), ('ず', "zu"), ('ぜ', "ze"), ('ぞ', "zo"),
        ('だ', "da"), ('ぢ', "ji"), ('づ', "zu"), ('で', "de"), ('ど', "do"),
        ('ば', "ba"), ('び', "bi"), ('ぶ', "bu"), ('べ', "be"), ('ぼ', "bo"),
        ('ぱ', "pa"), ('ぴ', "pi"), ('ぷ', "pu"), ('ぺ', "pe"), ('ぽ', "po"),
        ('ゔ', "vu"),
        ('ぁ', "a"), ('ぃ', "i"), ('ぅ', "u"), ('ぇ', "e"), ('ぉ', "o"),
        ('ゃ', "ya"), ('ゅ', "yu"), ('ょ', "yo"), ('ゎ', "wa"),
    ];
    TABLE.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hepburn_from_kana() {
        assert_eq!(from_kana("ほんまち").as_deref(), Some("honmachi"));
        assert_eq!(from_kana("ミヅホ").as_deref(), Some("mizuho"));
        assert_eq!(from_kana("ほうのうえ").as_deref(), Some("hounoue"));
        assert_eq!(from_kana("しゃくし").as_deref(), Some("shakushi"));
        assert_eq!(from_kana("きょうと").as_deref(), Some("kyouto"));
        assert_eq!(from_kana("まっちゃ").as_deref(), Some("matcha"));
        assert_eq!(from_kana("がっこう").as_deref(), Some("gakkou"));
        assert_eq!(from_kana("センター").as_deref(), Some("senta"));
        assert_eq!(from_kana("ティー").as_deref(), Some("ti"));
        assert_eq!(from_kana("本町"), None);
        assert_eq!(name_from_kana("ほうのうえ").as_deref(), Some("Hounoue"));
    }

    #[test]
    fn place_names_read_word_by_word() {
        assert_eq!(
            place_name("駅北一丁目", "エキキタ イッチョウメ").as_deref(),
            Some("Ekikita 1-chome")
        );
        assert_eq!(
            place_name("城町十二丁目", "シロマチ ジュウニチョウメ").as_deref(),
            Some("Shiromachi 12-chome")
        );
        assert_eq!(
            place_name("本町3丁目", "ホンマチ　サンチョウメ").as_deref(),
            Some("Honmachi 3-chome")
        );
        assert_eq!(place_name("本町", "ﾎﾝﾏﾁ").as_deref(), Some("Honmachi"));
        // A reading that is one word keeps its ちょうめ spelt out.
        assert_eq!(
            place_name("一丁目", "イッチョウメ").as_deref(),
            Some("Itchoume")
        );
        assert_eq!(place_name("本町", "本町"), None);
        assert_eq!(place_name("本町", " "), None);
    }

    #[test]
    fn keys_agree_across_spellings() {
        for (typed, kana) in [
            ("Honmachi", "ほんまち"),
            ("hounoue", "ほうのうえ"),
            ("Honoue", "ほうのうえ"),
            ("Hōnoue", "ほうのうえ"),
            ("sinmati", "しんまち"),
            ("Shimbashi", "しんばし"),
            ("tyuuou", "ちゅうおう"),
            ("Chuo", "ちゅうおう"),
            ("miduho", "みづほ"),
            ("Ohno", "おおの"),
            ("konnichiha", "こんにちは"),
            ("hukushima", "ふくしま"),
        ] {
            assert_eq!(
                key(typed),
                key(&from_kana(kana).expect("kana")),
                "{typed} vs {kana}"
            );
        }
        assert_ne!(
            key("honmachi"),
            key(&from_kana("ほんちょう").expect("kana"))
        );
    }
}
