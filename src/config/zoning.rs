//! 用途地域 (zoning districts): the thirteen national zone types, their codes, names in
//! both spellings cities use (第一種 / 第1種), English names and customary map colours.
//! Knowledge of the national system, not of any city.

/// One national zone type.
pub struct Zone {
    /// The national code (都市計画基礎調査, PLATEAU `Common_districtsAndZonesType`).
    pub code: u8,
    pub ja: &'static str,
    pub en: &'static str,
    /// The customary colour on 都市計画図.
    pub colour: &'static str,
}

/// The national zone types, by code.
pub const ZONES: [Zone; 13] = [
    Zone {
        code: 1,
        ja: "第一種低層住居専用地域",
        en: "Category 1 low-rise residential",
        colour: "#00A05A",
    },
    Zone {
        code: 2,
        ja: "第二種低層住居専用地域",
        en: "Category 2 low-rise residential",
        colour: "#64C882",
    },
    Zone {
        code: 3,
        ja: "第一種中高層住居専用地域",
        en: "Category 1 mid/high-rise residential",
        colour: "#78D23C",
    },
    Zone {
        code: 4,
        ja: "第二種中高層住居専用地域",
        en: "Category 2 mid/high-rise residential",
        colour: "#B4E150",
    },
    Zone {
        code: 5,
        ja: "第一種住居地域",
        en: "Category 1 residential",
        colour: "#FFF050",
    },
    Zone {
        code: 6,
        ja: "第二種住居地域",
        en: "Category 2 residential",
        colour: "#FFD750",
    },
    Zone {
        code: 7,
        ja: "準住居地域",
        en: "Quasi-residential",
        colour: "#FFC896",
    },
    Zone {
        code: 8,
        ja: "田園住居地域",
        en: "Rural residential",
        colour: "#B4A064",
    },
    Zone {
        code: 9,
        ja: "近隣商業地域",
        en: "Neighbourhood commercial",
        colour: "#FFB4C8",
    },
    Zone {
        code: 10,
        ja: "商業地域",
        en: "Commercial",
        colour: "#FF6E82",
    },
    Zone {
        code: 11,
        ja: "準工業地域",
        en: "Quasi-industrial",
        colour: "#C8A0DC",
    },
    Zone {
        code: 12,
        ja: "工業地域",
        en: "Industrial",
        colour: "#A0D2F0",
    },
    Zone {
        code: 13,
        ja: "工業専用地域",
        en: "Exclusively industrial",
        colour: "#64A0DC",
    },
];

/// A zone name as written in city data, to compare: NFKC, spaces removed, 第1種/第2種
/// read as 第一種/第二種.
fn normalise(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let s: String = name.nfkc().filter(|c| !c.is_whitespace()).collect();
    s.replace("第1種", "第一種").replace("第2種", "第二種")
}

/// The zone type a name (either spelling) or national code stands for.
#[must_use]
pub fn find(text: &str) -> Option<&'static Zone> {
    let t = text.trim();
    if let Ok(code) = t.parse::<u8>() {
        return ZONES.iter().find(|z| z.code == code);
    }
    let n = normalise(t);
    ZONES.iter().find(|z| z.ja == n)
}

/// Finds a zone by name only (a bare number is not taken for a code).
#[must_use]
pub fn find_by_name(text: &str) -> Option<&'static Zone> {
    if text.trim().parse::<f64>().is_ok() {
        return None;
    }
    find(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_and_codes_find_the_zone() {
        assert_eq!(find("第1種低層住居専用地域").map(|z| z.code), Some(1));
        assert_eq!(find("第一種低層住居専用地域").map(|z| z.code), Some(1));
        assert_eq!(find("第２種住居地域").map(|z| z.code), Some(6));
        assert_eq!(find(" 商業地域 ").map(|z| z.code), Some(10));
        assert_eq!(find("13").map(|z| z.ja), Some("工業専用地域"));
        assert!(find("市街化調整区域").is_none());
        assert!(find_by_name("5").is_none());
    }
}
