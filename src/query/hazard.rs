//! The resident's point report: every designated hazard area at a point, with its class
//! in words, the notice (告示) where the data has one and a one-line action hint; then the
//! nearest shelters with their distance and whether they open for the hazards found.
//! When nothing is found it says so, and which layers were checked: silence must never
//! look like safety.

use std::fmt::Write as _;

use geo::{Coord, Distance, Haversine, Point};
use serde::Serialize;

use super::geojson::representative_lonlat;
use super::identify;
use crate::access::View;
use crate::config::{HazardKind, I18n};
use crate::store::{Feature, LayerSnapshot, Shape, Value};
use crate::tile::lonlat_to_mercator;

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// `ja` or `en`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text of `t` in this language.
    #[must_use]
    pub fn pick(self, t: &I18n) -> &str {
        match self {
            Lang::Ja => &t.ja,
            Lang::En => &t.en,
        }
    }
}

/// A hazard class as found in the data.
#[derive(Debug, Clone, Serialize)]
pub struct Class {
    /// The code in the data (e.g. `2`, `土石流`).
    pub code: String,
    pub label: String,
    /// Severity from the layer file (1 = least), when it states one.
    pub level: Option<u8>,
}

/// A labelled attribute shown with a finding.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

/// One designated area the point is in.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: HazardKind,
    pub kind_label: String,
    pub layer: String,
    pub layer_title: String,
    pub scenario: Option<String>,
    pub class: Option<Class>,
    pub notice: Option<String>,
    pub date: Option<String>,
    pub action: Option<String>,
    pub details: Vec<Detail>,
    pub attribution: Option<String>,
}

/// A hazard layer that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub layer: String,
    pub title: String,
    pub kind: HazardKind,
}

/// A nearby shelter.
#[derive(Debug, Clone, Serialize)]
pub struct Shelter {
    pub name: String,
    pub address: Option<String>,
    pub layer: String,
    pub layer_title: String,
    pub lon: f64,
    pub lat: f64,
    /// Straight-line distance in metres.
    pub distance_m: u32,
    /// Hazard kinds the data says the site opens for.
    pub opens_for: Vec<HazardKind>,
    /// Whether it opens for every hazard found here; `None` when nothing was found or the
    /// data does not say.
    pub opens_for_found: Option<bool>,
    /// Which way it lies, in eight compass points, in the report's language.
    pub direction: String,
    /// Direction and straight-line distance in words: 「北東へ約1.4km（直線距離）」.
    pub guidance: String,
    /// Why it is not the first choice for the hazards found here, if it is not.
    pub caution: Option<String>,
    /// The hazards it is only meant for (津波避難ビル), if the layer says so.
    pub only_for: Vec<HazardKind>,
    /// The landslide areas the straight line from the point to the site passes through
    /// (not the one the point itself lies in), in words: the way there must go round them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crossing: Option<String>,
    /// In English reports, the name in Latin letters from its kana reading (a `search`
    /// field of the layer holding kana), so it can be read out and asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub romaji: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct HazardReport {
    pub lon: f64,
    pub lat: f64,
    pub lang: Lang,
    /// One sentence a screen reader can say first.
    pub summary: String,
    /// Whether the point is in any designated area in this data.
    pub designated: bool,
    pub hazards: Vec<Finding>,
    pub checked: Vec<Checked>,
    pub shelters: Vec<Shelter>,
    /// Whether the point lies in the area this data covers; outside it nothing is said of
    /// the place (no "not designated", no shelters tens of km away).
    pub covered: bool,
    /// Hazard kinds this data does not cover at all: the report cannot speak for them.
    pub not_covered: Vec<super::coverage::Uncovered>,
    /// The sentence saying so, when there is something the data does not cover.
    pub coverage_note: Option<String>,
    /// Where to check what this data does not cover.
    pub links: Vec<crate::config::site::Link>,
    /// The site's evacuation hint, when a hazard was found.
    pub hint: Option<String>,
    /// What the report does not promise.
    pub note: String,
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Str(s) if s.trim().is_empty() => None,
        other => other.key(),
    }
}

/// The visible value of the served field `name`, as text.
fn field_text(
    layer: &LayerSnapshot,
    f: &Feature,
    view: &View,
    name: Option<&String>,
) -> Option<String> {
    let i = layer.field_index(name?)?;
    if !view.sees_field(&layer.def, &layer.fields[i]) {
        return None;
    }
    value_text(&f.values[i])
}

fn finding(layer: &LayerSnapshot, f: &Feature, view: &View, lang: Lang) -> Option<Finding> {
    let h = layer.def.hazard.as_ref()?;
    let class =
        field_text(layer, f, view, h.rank_field.as_ref()).map(|code| match h.ranks.get(&code) {
            Some(r) => Class {
                label: if lang == Lang::Ja {
                    r.ja.clone()
                } else {
                    r.en.clone()
                },
                level: r.level,
                code,
            },
            None => Class {
                label: code.clone(),
                level: None,
                code,
            },
        });
    let skip = [
        h.rank_field.as_ref(),
        h.notice_field.as_ref(),
        h.date_field.as_ref(),
    ];
    let details = layer
        .fields
        .iter()
        .enumerate()
        .filter(|(_, fd)| view.sees_field(&layer.def, fd) && fd.label.is_some())
        .filter(|(_, fd)| !skip.iter().any(|s| s.is_some_and(|s| *s == fd.name)))
        .filter_map(|(i, fd)| {
            let raw = value_text(&f.values[i])?;
            if raw.starts_with("http://") || raw.starts_with("https://") {
                return None;
            }
            let value = fd
                .values
                .get(&raw)
                .map_or(raw, |l| lang.pick(l).to_string());
            Some(Detail {
                label: lang.pick(fd.label.as_ref()?).to_string(),
                value,
            })
        })
        .collect();
    Some(Finding {
        kind: h.kind,
        kind_label: lang.pick(&h.kind.label()).to_string(),
        layer: layer.def.id.to_string(),
        layer_title: lang.pick(&layer.def.title).to_string(),
        scenario: h.scenario.as_ref().map(|s| lang.pick(s).to_string()),
        class,
        notice: field_text(layer, f, view, h.notice_field.as_ref()),
        date: field_text(layer, f, view, h.date_field.as_ref()).map(|d| match lang {
            // 和暦 with the Western date beside it, for readers who do not count in eras.
            Lang::En => match western_date(&d) {
                Some(w) => format!("{d} ({w})"),
                None => d,
            },
            Lang::Ja => d,
        }),
        action: h.action.as_ref().map(|a| lang.pick(a).to_string()),
        details,
        attribution: layer.def.attribution.clone(),
    })
}

/// Candidates looked at per shelter layer, beyond the number asked for: Web Mercator
/// distance orders points as the ground does within a city, give or take a few metres.
const SHELTER_SLACK: usize = 8;

fn shelters(
    layers: &[&LayerSnapshot],
    view: &View,
    p: Coord<f64>,
    here: Point<f64>,
    found: &[HazardKind],
    lang: Lang,
    n: usize,
) -> Vec<Shelter> {
    let mut out = Vec::new();
    for layer in layers {
        let Some(cfg) = layer.def.shelter.as_ref() else {
            continue;
        };
        if !view.sees_layer(&layer.def) {
            continue;
        }
        let mut seen = Vec::new();
        for e in layer.index.nearest_neighbor_iter(&[p.x, p.y]) {
            let fi = e.data.0 as usize;
            if seen.contains(&fi) {
                continue;
            }
            seen.push(fi);
            if seen.len() > 2 * n + SHELTER_SLACK {
                break;
            }
            let f = &layer.features[fi];
            if !view.sees_feature(f) || !matches!(f.shape, Shape::Points(_)) {
                continue;
            }
            let Some(name) = field_text(layer, f, view, Some(&cfg.name_field)) else {
                continue;
            };
            let [lon, lat] = representative_lonlat(f);
            let opens = |k: &HazardKind| -> Option<bool> {
                let said = cfg
                    .opens_for
                    .get(k)
                    .and_then(|field| layer.field_index(field))
                    .map(|i| matches!(f.values[i], Value::Bool(true)));
                // A site meant only for some hazards (津波避難ビル) is not for the others.
                said.or_else(|| (!cfg.only_for.is_empty()).then(|| cfg.only_for.contains(k)))
            };
            let opens_for = HazardKind::ALL
                .iter()
                .copied()
                .filter(|k| opens(k) == Some(true))
                .collect();
            let opens_for_found = if found.is_empty() {
                None
            } else {
                found
                    .iter()
                    .map(opens)
                    .collect::<Option<Vec<bool>>>()
                    .map(|v| v.into_iter().all(|b| b))
            };
            let distance_m = Haversine.distance(here, Point::new(lon, lat)).round() as u32;
            let direction = compass(here, Point::new(lon, lat), lang);
            let romaji = (lang == Lang::En)
                .then(|| crate::query::search::romaji_name(layer, f, view, &name))
                .flatten();
            out.push(Shelter {
                romaji,
                name,
                address: field_text(layer, f, view, cfg.address_field.as_ref()),
                layer: layer.def.id.to_string(),
                layer_title: lang.pick(&layer.def.title).to_string(),
                lon,
                lat,
                distance_m,
                opens_for,
                opens_for_found,
                guidance: guidance(&direction, distance_m, lang),
                direction,
                caution: None,
                crossing: None,
                only_for: cfg.only_for.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.distance_m.cmp(&b.distance_m).then(a.name.cmp(&b.name)));
    merge_same_site(&mut out, lang);
    // Where a hazard was found, the nearest site that opens for every one of them comes
    // first (it is the one the map draws the way to), then the sites the data says nothing
    // about, then those that may not open; each keeps its distance order.
    if !found.is_empty() {
        out.sort_by_key(|s| match s.opens_for_found {
            Some(true) => 0,
            None => 1,
            Some(false) => 2,
        });
    }
    out.truncate(n);
    if !found.is_empty() {
        for s in &mut out {
            s.caution = caution(s, lang);
        }
    }
    for s in &mut out {
        let (x, y) = lonlat_to_mercator(s.lon, s.lat);
        s.crossing = crossing(layers, view, p, Coord { x, y }, lang);
    }
    out
}

/// Hazards whose areas a straight way to a shelter must not be taken through in heavy rain.
const KEEP_OUT: [HazardKind; 2] = [
    HazardKind::LandslideSpecialWarning,
    HazardKind::LandslideWarning,
];

/// The landslide areas segment `a–b` (point → shelter, EPSG:3857) enters, leaving out
/// those `a` lies in (the person is there already: leaving is the advice), as a sentence.
fn crossing(
    layers: &[&LayerSnapshot],
    view: &View,
    a: Coord<f64>,
    b: Coord<f64>,
    lang: Lang,
) -> Option<String> {
    let area = crate::store::PartBox {
        min: Coord {
            x: a.x.min(b.x),
            y: a.y.min(b.y),
        },
        max: Coord {
            x: a.x.max(b.x),
            y: a.y.max(b.y),
        },
    };
    let mut titles: Vec<String> = Vec::new();
    for layer in layers {
        let Some(h) = layer.def.hazard.as_ref() else {
            continue;
        };
        if !KEEP_OUT.contains(&h.kind) || !view.sees_layer(&layer.def) {
            continue;
        }
        let enters = layer.parts_in(&area).into_iter().any(|(fi, part)| {
            let Some(f) = layer.features.get(fi as usize) else {
                return false;
            };
            let Shape::Polygons(parts) = &f.shape else {
                return false;
            };
            view.sees_feature(f)
                && parts.get(part as usize).is_some_and(|pp| {
                    !super::geom::polygon_contains(pp, a) && super::geom::segment_enters(pp, a, b)
                })
        });
        let title = lang.pick(&layer.def.title).to_string();
        if enters && !titles.contains(&title) {
            titles.push(title);
        }
    }
    (!titles.is_empty()).then(|| match lang {
        Lang::Ja => format!(
            "直線上に{}があります。大雨のときは区域を通らない道を選んでください。",
            titles.join("・")
        ),
        Lang::En => format!(
            "The straight line passes through {}: in heavy rain, take a way that keeps out of them.",
            titles.join(", ")
        ),
    })
}

/// The eight compass points from `a` to `b`, in words.
fn compass(a: Point<f64>, b: Point<f64>, lang: Lang) -> String {
    let dx = (b.x() - a.x()) * a.y().to_radians().cos();
    let dy = b.y() - a.y();
    let deg = dx.atan2(dy).to_degrees().rem_euclid(360.0);
    let i = ((deg + 22.5) / 45.0).floor() as usize % 8;
    let (ja, en) = [
        ("北", "north"),
        ("北東", "northeast"),
        ("東", "east"),
        ("南東", "southeast"),
        ("南", "south"),
        ("南西", "southwest"),
        ("西", "west"),
        ("北西", "northwest"),
    ][i];
    match lang {
        Lang::Ja => ja.into(),
        Lang::En => en.into(),
    }
}

/// 「北東へ約1.4km（直線距離）」 / "about 1.4 km northeast (straight line)".
fn guidance(direction: &str, m: u32, lang: Lang) -> String {
    match lang {
        Lang::Ja => format!("{direction}へ{}（直線距離）", distance_words(m, lang)),
        Lang::En => format!("{} {direction} (straight line)", distance_words(m, lang)),
    }
}

/// Why a listed site is not the one to go to for the hazards found here, if it is not.
fn caution(s: &Shelter, lang: Lang) -> Option<String> {
    let ja = lang == Lang::Ja;
    let only: Vec<String> = s
        .only_for
        .iter()
        .map(|k| lang.pick(&k.label()).to_string())
        .collect();
    match s.opens_for_found {
        Some(true) => None,
        Some(false) if !only.is_empty() => Some(if ja {
            format!(
                "{}のときの避難先です。ここで見つかった災害のときの避難先ではありません。",
                only.join("・")
            )
        } else {
            format!(
                "For {} only: not a shelter for the hazards found here.",
                only.join(", ")
            )
        }),
        Some(false) => Some(if ja {
            "ここで見つかった災害のときは開設されない場合があります。".into()
        } else {
            "May not open for the hazards found here.".into()
        }),
        None => Some(if ja {
            "どの災害のときに開設されるか、このデータには記載がありません。".into()
        } else {
            "This data does not say for which hazards it opens.".into()
        }),
    }
}

/// One building is often both a 指定避難所 and a 指定緊急避難場所: list it once, with both
/// designations, what either says it opens for, and "opens" if either opens.
fn merge_same_site(list: &mut Vec<Shelter>, lang: Lang) {
    /// Same name within this many metres is the same site.
    const SAME_SITE_M: u32 = 50;
    let and = if lang == Lang::Ja { "・" } else { " / " };
    let mut merged: Vec<Shelter> = Vec::with_capacity(list.len());
    for s in list.drain(..) {
        let here = Point::new(s.lon, s.lat);
        if let Some(m) = merged.iter_mut().find(|m| {
            m.name == s.name
                && Haversine.distance(here, Point::new(m.lon, m.lat)) <= f64::from(SAME_SITE_M)
        }) {
            m.layer_title = format!("{}{and}{}", m.layer_title, s.layer_title);
            m.layer = format!("{},{}", m.layer, s.layer);
            for k in s.opens_for {
                if !m.opens_for.contains(&k) {
                    m.opens_for.push(k);
                }
            }
            m.opens_for_found = match (m.opens_for_found, s.opens_for_found) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            };
            if m.address.is_none() {
                m.address = s.address;
            }
            // Only-for-some-hazards holds only if every designation of the site says so.
            if s.only_for.is_empty() {
                m.only_for.clear();
            } else if !m.only_for.is_empty() {
                m.only_for.extend(
                    s.only_for
                        .iter()
                        .filter(|k| !m.only_for.contains(k))
                        .copied()
                        .collect::<Vec<_>>(),
                );
            }
            continue;
        }
        merged.push(s);
    }
    *list = merged;
}

/// The report for a point outside the area the data covers: it says so, and nothing else.
fn outside(
    coverage: &super::coverage::Coverage<'_>,
    lon: f64,
    lat: f64,
    lang: Lang,
    links: Vec<crate::config::site::Link>,
    note: &str,
) -> HazardReport {
    let place = coverage.name.as_ref().map(|n| lang.pick(n).to_string());
    let summary = match (lang, place) {
        (Lang::Ja, Some(p)) => format!("この地点は、このデータ（{p}）の範囲の外です。ここのハザード情報はこのデータでは分かりません。その地域の市区町村のハザードマップで確認してください。"),
        (Lang::Ja, None) => "この地点は、このデータの範囲の外です。ここのハザード情報はこのデータでは分かりません。その地域の市区町村のハザードマップで確認してください。".into(),
        (Lang::En, Some(p)) => format!("This point is outside the area this data ({p}) covers, so it cannot tell the hazards here. Check the hazard map of the municipality there."),
        (Lang::En, None) => "This point is outside the area this data covers, so it cannot tell the hazards here. Check the hazard map of the municipality there.".into(),
    };
    HazardReport {
        lon,
        lat,
        lang,
        summary,
        designated: false,
        hazards: Vec::new(),
        checked: Vec::new(),
        shelters: Vec::new(),
        covered: false,
        not_covered: Vec::new(),
        coverage_note: None,
        links,
        hint: None,
        note: note.into(),
    }
}

/// The report at (`lon`, `lat`) from every hazard and shelter layer `view` sees, within
/// what `coverage` says the data covers.
#[must_use]
pub fn report(
    layers: &[&LayerSnapshot],
    view: &View,
    coverage: &super::coverage::Coverage<'_>,
    lon: f64,
    lat: f64,
    lang: Lang,
    n_shelters: usize,
) -> HazardReport {
    let not_covered = coverage.uncovered(lang == Lang::En);
    let links = coverage.links.clone();
    let note = match lang {
        Lang::Ja => "この情報は市が公開している指定区域のデータに基づく目安です。区域の外でも災害が起きることがあります。避難情報は市からの発表に従ってください。",
        Lang::En => "This is a guide based on the designated areas the city publishes. Disasters can happen outside them too. Follow the city's evacuation announcements.",
    };
    if !coverage.covers(lon, lat) {
        return outside(coverage, lon, lat, lang, links, note);
    }
    let coverage_note = (!not_covered.is_empty()).then(|| {
        let names: Vec<&str> = not_covered.iter().map(|u| u.label.as_str()).collect();
        match lang {
            Lang::Ja => format!(
                "このデータには{}の情報がありません。これらの危険がないという意味ではありません。市のハザードマップや国の「重ねるハザードマップ」で確認してください。",
                names.join("・")
            ),
            Lang::En => format!(
                "This data has no information on: {}. That does not mean there is no such risk here; check the city's hazard maps or the national multi-hazard map (重ねるハザードマップ).",
                names.join(", ")
            ),
        }
    });
    let (x, y) = lonlat_to_mercator(lon, lat);
    let p = Coord { x, y };
    let mut hazards = Vec::new();
    let mut checked = Vec::new();
    for layer in layers {
        let Some(h) = layer.def.hazard.as_ref() else {
            continue;
        };
        if !view.sees_layer(&layer.def) {
            continue;
        }
        checked.push(Checked {
            layer: layer.def.id.to_string(),
            title: lang.pick(&layer.def.title).to_string(),
            kind: h.kind,
        });
        for (fi, _) in identify(layer, view, p, 0.0) {
            if let Some(f) = finding(layer, &layer.features[fi], view, lang) {
                hazards.push(f);
            }
        }
    }
    let order = |k: HazardKind| {
        HazardKind::ALL
            .iter()
            .position(|x| *x == k)
            .unwrap_or(usize::MAX)
    };
    hazards.sort_by(|a, b| {
        order(a.kind).cmp(&order(b.kind)).then(
            b.class
                .as_ref()
                .and_then(|c| c.level)
                .cmp(&a.class.as_ref().and_then(|c| c.level)),
        )
    });
    let mut found: Vec<HazardKind> = hazards.iter().map(|h| h.kind).collect();
    found.dedup();
    let shelters = shelters(
        layers,
        view,
        p,
        Point::new(lon, lat),
        &found,
        lang,
        n_shelters,
    );
    let summary = summary(&hazards, &checked, lang);
    let hint = coverage
        .hint
        .as_ref()
        .filter(|_| !hazards.is_empty())
        .map(|h| lang.pick(h).to_string());
    HazardReport {
        lon,
        lat,
        lang,
        summary,
        designated: !hazards.is_empty(),
        hazards,
        checked,
        shelters,
        covered: true,
        not_covered,
        coverage_note,
        links,
        hint,
        note: note.into(),
    }
}

/// `parts` in brackets, written as the language writes them: 「（a、b）」 / " (a, b)".
fn paren(lang: Lang, parts: &[&str]) -> String {
    match lang {
        Lang::Ja => format!("（{}）", parts.join("、")),
        Lang::En => format!(" ({})", parts.join(", ")),
    }
}

/// A shelter's name, with its rōmaji after it where the report has one.
fn shelter_name(s: &Shelter) -> String {
    match &s.romaji {
        Some(r) => format!("{} ({r})", s.name),
        None => s.name.clone(),
    }
}

/// A date written in an era (平成31年2月15日, 令和元年5月1日, full-width digits too) as
/// "15 February 2019"; `None` when `d` is not such a date.
#[must_use]
pub fn western_date(d: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    const ERAS: [(&str, i32); 5] = [
        ("令和", 2019),
        ("平成", 1989),
        ("昭和", 1926),
        ("大正", 1912),
        ("明治", 1868),
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let d: String = d.nfkc().filter(|c| !c.is_whitespace()).collect();
    let (start, rest) = ERAS
        .iter()
        .find_map(|(era, y)| d.strip_prefix(era).map(|r| (*y, r)))?;
    let (year, rest) = rest.split_once('年')?;
    let year: i32 = if year == "元" { 1 } else { year.parse().ok()? };
    let (month, rest) = rest.split_once('月')?;
    let month: usize = month.parse().ok()?;
    let day: u32 = rest.strip_suffix('日')?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1 {
        return None;
    }
    Some(format!("{day} {} {}", MONTHS[month - 1], start + year - 1))
}

fn finding_phrase(h: &Finding, lang: Lang) -> String {
    let mut s = h.kind_label.clone();
    let extra: Vec<&str> = h
        .scenario
        .iter()
        .chain(h.class.as_ref().map(|c| &c.label))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        let (open, sep, close) = if lang == Lang::Ja {
            ("（", "、", "）")
        } else {
            (" (", ", ", ")")
        };
        s.push_str(open);
        s.push_str(&extra.join(sep));
        s.push_str(close);
    }
    s
}

fn summary(hazards: &[Finding], checked: &[Checked], lang: Lang) -> String {
    if hazards.is_empty() {
        let mut kinds: Vec<String> = Vec::new();
        for c in checked {
            let l = lang.pick(&c.kind.label()).to_string();
            if !kinds.contains(&l) {
                kinds.push(l);
            }
        }
        return match lang {
            Lang::Ja if kinds.is_empty() => {
                "このデータには確認できるハザード情報がありません。".into()
            }
            Lang::Ja => format!(
                "この地点は、このデータで確認できる指定区域（{}）には含まれていません。",
                kinds.join("、")
            ),
            Lang::En if kinds.is_empty() => "This data has no hazard information to check.".into(),
            Lang::En => format!(
                "This point is not in any designated hazard area in this data ({}).",
                kinds.join(", ")
            ),
        };
    }
    let parts: Vec<String> = hazards.iter().map(|h| finding_phrase(h, lang)).collect();
    match lang {
        Lang::Ja => format!(
            "この地点は{}件の指定区域に含まれます：{}。",
            hazards.len(),
            parts.join("、")
        ),
        Lang::En => format!(
            "This point is in {} designated hazard area{}: {}.",
            hazards.len(),
            if hazards.len() == 1 { "" } else { "s" },
            parts.join("; ")
        ),
    }
}

fn distance_words(m: u32, lang: Lang) -> String {
    match (lang, m) {
        (Lang::Ja, m) if m >= 1000 => format!("約{:.1}km", f64::from(m) / 1000.0),
        (Lang::Ja, m) => format!("約{m}m"),
        (Lang::En, m) if m >= 1000 => format!("about {:.1} km", f64::from(m) / 1000.0),
        (Lang::En, m) => format!("about {m} m"),
    }
}

fn opens_words(s: &Shelter, lang: Lang) -> Option<&'static str> {
    Some(match (s.opens_for_found?, lang) {
        (true, Lang::Ja) => "ここで見つかった災害のときに開設されます",
        (false, Lang::Ja) => "ここで見つかった災害のときには開設されない場合があります",
        (true, Lang::En) => "opens for the hazards found here",
        (false, Lang::En) => "may not open for the hazards found here",
    })
}

impl HazardReport {
    /// The report as plain text that reads well aloud.
    #[must_use]
    pub fn to_text(&self) -> String {
        let ja = self.lang == Lang::Ja;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{}",
            if ja {
                format!(
                    "ハザード情報（北緯{:.5}度、東経{:.5}度）",
                    self.lat, self.lon
                )
            } else {
                format!(
                    "Hazard report for latitude {:.5}, longitude {:.5}",
                    self.lat, self.lon
                )
            }
        );
        let _ = writeln!(t, "{}", self.summary);
        for (i, h) in self.hazards.iter().enumerate() {
            let _ = write!(t, "{}. {}", i + 1, finding_phrase(h, self.lang));
            for d in &h.details {
                let _ = write!(
                    t,
                    "{}{}{}{}",
                    if ja { "。" } else { ". " },
                    d.label,
                    if ja { "：" } else { ": " },
                    d.value
                );
            }
            if let Some(n) = &h.notice {
                let _ = write!(t, "{}{}", if ja { "。告示：" } else { ". Notice: " }, n);
                if let Some(d) = &h.date {
                    t.push_str(&paren(self.lang, &[d]));
                }
            }
            if let Some(a) = &h.action {
                let _ = write!(t, "{}{}", if ja { "。" } else { ". " }, a);
            }
            let _ = writeln!(t);
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(t, "{h}");
        }
        if !self.shelters.is_empty() {
            let _ = writeln!(
                t,
                "{}",
                if ja {
                    "近くの避難先："
                } else {
                    "Nearest shelters:"
                }
            );
            for (i, s) in self.shelters.iter().enumerate() {
                let _ = write!(
                    t,
                    "{}. {}{}",
                    i + 1,
                    shelter_name(s),
                    paren(self.lang, &[&s.layer_title, &s.guidance])
                );
                if let Some(w) = s.caution.as_deref().or_else(|| opens_words(s, self.lang)) {
                    let _ = write!(t, "{}{w}", if ja { "。" } else { ". " });
                }
                if let Some(c) = &s.crossing {
                    let _ = write!(t, "{}{c}", if ja { "" } else { " " });
                }
                if let Some(a) = &s.address {
                    let _ = write!(t, "{}{a}", if ja { "。所在地：" } else { ". Address: " });
                }
                let _ = writeln!(t);
            }
        }
        if let Some(c) = &self.coverage_note {
            let _ = writeln!(t, "{c}");
        }
        for l in &self.links {
            let _ = writeln!(t, "{}: {}", self.lang.pick(&l.title), l.url);
        }
        let _ = writeln!(t, "{}", self.note);
        t
    }

    /// The report as a small accessible HTML page.
    #[must_use]
    pub fn to_html(&self) -> String {
        let esc = super::html_escape;
        let ja = self.lang == Lang::Ja;
        let lang = if ja { "ja" } else { "en" };
        let title = if ja {
            "ハザード情報"
        } else {
            "Hazard report"
        };
        let mut h = format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head><body><main><h1>{title}</h1><p>{}</p>",
            esc(&self.summary)
        );
        if !self.hazards.is_empty() {
            h.push_str("<ol>");
            for f in &self.hazards {
                let _ = write!(
                    h,
                    "<li><strong>{}</strong>",
                    esc(&finding_phrase(f, self.lang))
                );
                for d in &f.details {
                    let colon = if ja { "：" } else { ": " };
                    let _ = write!(h, "<br>{}{colon}{}", esc(&d.label), esc(&d.value));
                }
                if let Some(n) = &f.notice {
                    let _ = write!(
                        h,
                        "<br>{}{}",
                        if ja { "告示：" } else { "Notice: " },
                        esc(n)
                    );
                }
                if let Some(a) = &f.action {
                    let _ = write!(h, "<br>{}", esc(a));
                }
                h.push_str("</li>");
            }
            h.push_str("</ol>");
        }
        if let Some(hint) = &self.hint {
            let _ = write!(h, "<p><strong>{}</strong></p>", esc(hint));
        }
        if !self.shelters.is_empty() {
            let _ = write!(
                h,
                "<h2>{}</h2><ol>",
                if ja {
                    "近くの避難先"
                } else {
                    "Nearest shelters"
                }
            );
            for s in &self.shelters {
                let _ = write!(
                    h,
                    "<li>{}",
                    esc(&(shelter_name(s) + &paren(self.lang, &[&s.layer_title, &s.guidance])))
                );
                if let Some(w) = s.caution.as_deref().or_else(|| opens_words(s, self.lang)) {
                    let _ = write!(h, "<br>{}", esc(w));
                }
                if let Some(c) = &s.crossing {
                    let _ = write!(h, "<br>{}", esc(c));
                }
                h.push_str("</li>");
            }
            h.push_str("</ol>");
        }
        if let Some(c) = &self.coverage_note {
            let _ = write!(h, "<p>{}</p>", esc(c));
        }
        if !self.links.is_empty() {
            h.push_str("<ul>");
            for l in &self.links {
                let _ = write!(
                    h,
                    "<li><a href=\"{}\">{}</a></li>",
                    esc(&l.url),
                    esc(self.lang.pick(&l.title))
                );
            }
            h.push_str("</ul>");
        }
        let _ = write!(h, "<p>{}</p></main></body></html>", esc(&self.note));

        h
    }
}
