//! The resident's report as issue 12 asks for it: shelters ordered by the hazards found
//! (the first one opens for all of them), tsunami-only buildings marked, direction and
//! distance in words, the evacuation hint, search in natural order with places first, and
//! the search form answered without JavaScript.

use crate::common::{get, public_router};

/// A point in the 大井川 家屋倒壊等氾濫想定区域 where the nearest shelter may not open.
const HOUSE_COLLAPSE: (f64, f64) = (138.256, 34.789);

#[tokio::test]
async fn the_first_shelter_opens_for_every_hazard_found() {
    let r = public_router();
    let (lon, lat) = HOUSE_COLLAPSE;
    let rep = get(&r, &format!("/hazard?lon={lon}&lat={lat}"), &[])
        .await
        .json();
    assert!(
        rep["hazards"]
            .as_array()
            .expect("list")
            .iter()
            .any(|h| h["kind"] == "house_collapse"),
        "{rep}"
    );
    let first = &rep["shelters"][0];
    assert_eq!(first["opens_for_found"], true, "{rep}");
    let g = first["guidance"].as_str().expect("guidance");
    assert!(g.contains("へ約") && g.ends_with("（直線距離）"), "{g}");
    assert!(
        rep["hint"].as_str().expect("hint").contains("警戒レベル"),
        "{rep}"
    );
    let en = get(&r, &format!("/hazard?lon={lon}&lat={lat}&lang=en"), &[])
        .await
        .json();
    let g = en["shelters"][0]["guidance"].as_str().expect("guidance");
    assert!(
        g.starts_with("about ") && g.ends_with("(straight line)"),
        "{g}"
    );
}

#[tokio::test]
async fn over_a_grid_no_unsuitable_shelter_comes_before_a_suitable_one() {
    let r = public_router();
    let (mut in_hazard, mut tsunami_only) = (0, 0);
    for i in 0..15 {
        for j in 0..15 {
            let lon = 138.24 + 0.1 * f64::from(i) / 14.0;
            let lat = 34.78 + 0.12 * f64::from(j) / 14.0;
            let rep = get(
                &r,
                &format!("/hazard?lon={lon:.5}&lat={lat:.5}&shelters=10"),
                &[],
            )
            .await
            .json();
            if rep["hazards"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            in_hazard += 1;
            let list = rep["shelters"].as_array().expect("shelters");
            let rank = |s: &serde_json::Value| match s["opens_for_found"].as_bool() {
                Some(true) => 0,
                None => 1,
                Some(false) => 2,
            };
            let ranks: Vec<i32> = list.iter().map(rank).collect();
            assert!(
                ranks.windows(2).all(|w| w[0] <= w[1]),
                "{lon},{lat}: {ranks:?}"
            );
            for s in list {
                if s["layer"] == "tsunami_hinan_biru" {
                    tsunami_only += 1;
                    let found: Vec<&str> = rep["hazards"]
                        .as_array()
                        .expect("h")
                        .iter()
                        .filter_map(|h| h["kind"].as_str())
                        .collect();
                    if !found.contains(&"tsunami") {
                        assert_eq!(s["opens_for_found"], false, "{s}");
                        assert!(
                            s["caution"].as_str().expect("caution").contains("津波"),
                            "{s}"
                        );
                    }
                }
            }
        }
    }
    assert!(in_hazard > 30, "{in_hazard} grid points in a hazard area");
    assert!(tsunami_only > 0, "tsunami buildings were listed somewhere");
}

#[tokio::test]
async fn search_lists_places_first_in_natural_order_and_works_without_javascript() {
    let r = public_router();
    let s = get(&r, "/search?q=本町&limit=20", &[]).await.json();
    let names: Vec<&str> = s["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    let choume: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("本町") && n.ends_with("丁目"))
        .collect();
    assert_eq!(
        &choume[..3],
        ["本町一丁目", "本町二丁目", "本町三丁目"],
        "{names:?}"
    );
    let page = get(&r, "/?q=%E6%9C%AC%E7%94%BA", &[("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("本町一丁目") && html.contains("/hazard?lon="),
        "{html}"
    );
    let none = get(
        &r,
        "/?q=%E5%AD%98%E5%9C%A8%E3%81%97%E3%81%AA%E3%81%84",
        &[("accept", "text/html")],
    )
    .await;
    assert!(String::from_utf8_lossy(&none.body).contains("見つかりませんでした"));
}

#[tokio::test]
async fn json_answers_are_compressed_when_the_client_accepts_it() {
    let r = public_router();
    for (enc, want) in [("br", "br"), ("gzip", "gzip"), ("gzip, br", "br")] {
        let c = get(&r, "/catalog", &[("accept-encoding", enc)]).await;
        assert_eq!(c.header("content-encoding"), Some(want), "{enc}");
    }
    let plain = get(&r, "/catalog", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.json()["layers"].is_array());
    // A tile is compressed once, ahead: passed through as gzip, not compressed again.
    let (t, _) = crate::common::tile_of(138.2806, 34.8775, 14);
    let tile = get(
        &r,
        &format!("/tiles/kouzui_shinsui/{}/{}/{}.mvt", t.z(), t.x(), t.y()),
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(tile.header("content-encoding"), Some("gzip"));
}

/// sRGB `#rrggbb` drawn at `alpha` over `bg`, as CIELAB (D65).
fn lab_over(hex: &str, alpha: f64, bg: &str) -> [f64; 3] {
    let rgb = |h: &str| -> [f64; 3] {
        let h = h.trim_start_matches('#');
        let c = |i: usize| f64::from(u8::from_str_radix(&h[i..i + 2], 16).expect("hex")) / 255.0;
        [c(0), c(2), c(4)]
    };
    let (f, b) = (rgb(hex), rgb(bg));
    let lin = |u: f64| {
        if u <= 0.04045 {
            u / 12.92
        } else {
            ((u + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, bl] = [0, 1, 2].map(|i| lin(alpha * f[i] + (1.0 - alpha) * b[i]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * bl;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883;
    let t = |v: f64| {
        if v > 0.008_856 {
            v.cbrt()
        } else {
            7.787 * v + 16.0 / 116.0
        }
    };
    [
        116.0 * t(y) - 16.0,
        500.0 * (t(x) - t(y)),
        200.0 * (t(y) - t(z)),
    ]
}

/// CIEDE2000 colour difference.
fn ciede2000(l1: [f64; 3], l2: [f64; 3]) -> f64 {
    let [lt1, a1, b1] = l1;
    let [lt2, a2, b2] = l2;
    let cm = f64::midpoint(a1.hypot(b1), a2.hypot(b2));
    let g = 0.5 * (1.0 - (cm.powi(7) / (cm.powi(7) + 25f64.powi(7))).sqrt());
    let (a1p, a2p) = ((1.0 + g) * a1, (1.0 + g) * a2);
    let (c1, c2) = (a1p.hypot(b1), a2p.hypot(b2));
    let hue = |b: f64, a: f64| b.atan2(a).to_degrees().rem_euclid(360.0);
    let (h1, h2) = (hue(b1, a1p), hue(b2, a2p));
    let mut dh = h2 - h1;
    if c1 * c2 == 0.0 {
        dh = 0.0;
    } else if dh > 180.0 {
        dh -= 360.0;
    } else if dh < -180.0 {
        dh += 360.0;
    }
    let d_hh = 2.0 * (c1 * c2).sqrt() * (dh / 2.0).to_radians().sin();
    let (lm, cpm) = (f64::midpoint(lt1, lt2), f64::midpoint(c1, c2));
    let hm = if c1 * c2 == 0.0 {
        h1 + h2
    } else if (h1 - h2).abs() <= 180.0 {
        f64::midpoint(h1, h2)
    } else if h1 + h2 < 360.0 {
        (h1 + h2 + 360.0) / 2.0
    } else {
        (h1 + h2 - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * (hm - 30.0).to_radians().cos()
        + 0.24 * (2.0 * hm).to_radians().cos()
        + 0.32 * (3.0 * hm + 6.0).to_radians().cos()
        - 0.20 * (4.0 * hm - 63.0).to_radians().cos();
    let dth = 30.0 * (-((hm - 275.0) / 25.0).powi(2)).exp();
    let rc = 2.0 * (cpm.powi(7) / (cpm.powi(7) + 25f64.powi(7))).sqrt();
    let sl = 1.0 + 0.015 * (lm - 50.0).powi(2) / (20.0 + (lm - 50.0).powi(2)).sqrt();
    let (sc, sh) = (1.0 + 0.045 * cpm, 1.0 + 0.015 * cpm * t);
    let rt = -(2.0 * dth).to_radians().sin() * rc;
    let (dl, dc, dhh) = ((lt2 - lt1) / sl, (c2 - c1) / sc, d_hh / sh);
    (dl * dl + dc * dc + dhh * dhh + rt * dc * dhh).sqrt()
}

#[test]
fn ciede2000_matches_the_published_test_pair() {
    // Sharma, Wu & Dalal (2005), pair 1: ΔE00 = 2.0425.
    let d = ciede2000([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485]);
    assert!((d - 2.0425).abs() < 1e-3, "{d}");
}

#[tokio::test]
async fn fills_drawn_together_on_the_public_map_cannot_be_taken_for_each_other() {
    let style = get(&public_router(), "/styles/public.json", &[])
        .await
        .json();
    let bg = style["layers"][0]["paint"]["background-color"]
        .as_str()
        .expect("background")
        .to_string();
    // Every colour each default-visible fill layer can draw, at its opacity.
    let mut fills: Vec<(String, String, [f64; 3])> = Vec::new();
    for l in style["layers"].as_array().expect("layers") {
        if l["type"] != "fill" || l["layout"]["visibility"] == "none" {
            continue;
        }
        let alpha = l["paint"]["fill-opacity"].as_f64().unwrap_or(1.0);
        let mut colours = Vec::new();
        let mut stack = vec![l["paint"]["fill-color"].clone()];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) if s.starts_with('#') && s.len() == 7 => {
                    colours.push(s);
                }
                serde_json::Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
        for c in colours {
            let lab = lab_over(&c, alpha, &bg);
            fills.push((l["source-layer"].as_str().unwrap_or("").to_string(), c, lab));
        }
    }
    let layers: std::collections::BTreeSet<&str> = fills.iter().map(|f| f.0.as_str()).collect();
    assert!(layers.len() >= 4, "{layers:?}");
    let mut worst = (f64::MAX, String::new());
    for (i, a) in fills.iter().enumerate() {
        for b in &fills[i + 1..] {
            if a.0 == b.0 {
                continue; // the classes of one scale are meant to be read as a scale
            }
            let d = ciede2000(a.2, b.2);
            if d < worst.0 {
                worst = (d, format!("{} {} / {} {}", a.0, a.1, b.0, b.1));
            }
        }
    }
    assert!(worst.0 >= 20.0, "ΔE00 {:.1}: {}", worst.0, worst.1);
}

/// A point in a 土砂災害警戒区域 whose 告示日 is written in 平成.
const LANDSLIDE_HEISEI: (f64, f64) = (138.29932, 34.89593);

#[tokio::test]
async fn english_reports_use_ascii_punctuation_western_dates_and_romaji_names() {
    let r = public_router();
    let (lon, lat) = LANDSLIDE_HEISEI;
    let rep = get(&r, &format!("/hazard?lon={lon}&lat={lat}&lang=en"), &[])
        .await
        .json();
    let date = rep["hazards"]
        .as_array()
        .expect("hazards")
        .iter()
        .find_map(|h| h["date"].as_str().filter(|d| d.contains("平成")))
        .unwrap_or_else(|| panic!("no 平成 date: {rep}"));
    assert_eq!(date, "平成25年2月1日 (1 February 2013)");
    let first = &rep["shelters"][0];
    let romaji = first["romaji"]
        .as_str()
        .expect("romaji of the shelter's name");
    assert!(
        romaji.is_ascii() && romaji.chars().next().is_some_and(char::is_uppercase),
        "{romaji}"
    );
    let text = String::from_utf8(
        get(
            &r,
            &format!("/hazard?lon={lon}&lat={lat}&lang=en&f=text"),
            &[],
        )
        .await
        .body,
    )
    .expect("utf-8");
    // Japanese names and data stay as written; the report's own words and marks are ASCII.
    for mark in ['（', '）', '、', '：', '。', '・'] {
        assert!(!text.contains(mark), "{mark} in {text}");
    }
    assert!(text.contains(&format!("({romaji})")), "{text}");
    let ja = get(&r, &format!("/hazard?lon={lon}&lat={lat}"), &[])
        .await
        .json();
    assert!(ja["shelters"][0].get("romaji").is_none(), "{ja}");
}

#[tokio::test]
async fn romaji_finds_names_by_their_kana_reading_in_any_common_spelling() {
    let r = public_router();
    for q in ["honmachi", "Honmachi", "HONMATI"] {
        let s = get(&r, &format!("/search?q={q}"), &[]).await.json();
        let names: Vec<&str> = s["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|x| x["name"].as_str())
            .collect();
        assert!(names.contains(&"本町タワー"), "{q}: {names:?}");
    }
    let none = get(&r, "/search?q=zzqx", &[]).await.json();
    assert_eq!(none["results"].as_array().map(Vec::len), Some(0), "{none}");
}

/// The 町丁目 carry their readings (Japan Post's, in data/addresses): a resident typing
/// rōmaji or kana finds the 町丁目 itself first, and English pages name it in rōmaji.
#[tokio::test]
async fn towns_are_found_by_their_reading_and_named_in_romaji() {
    let r = public_router();
    let first = |s: &serde_json::Value| s["results"][0].clone();
    for q in ["honmachi", "Honmati", "ほんまち", "ホンマチ"] {
        let s = get(
            &r,
            &format!(
                "/search?q={}",
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ),
            &[],
        )
        .await
        .json();
        let top = first(&s);
        assert_eq!(top["name"], "本町一丁目", "{q}: {s}");
        assert_eq!(top["layer"], "choume", "{q}: {s}");
        assert_eq!(top["romaji"], "Honmachi 1-chome", "{q}: {s}");
    }
    // 方ノ上 is read カタノカミ (not ほうのうえ, as one might guess from the characters).
    let s = get(&r, "/search?q=katanokami", &[]).await.json();
    assert_eq!(first(&s)["name"], "方ノ上", "{s}");
    assert_eq!(first(&s)["romaji"], "Katanokami", "{s}");
    let s = get(&r, "/search?q=hounoue", &[]).await.json();
    assert!(
        s["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|x| x["name"] != "方ノ上"),
        "{s}"
    );
    // The page without JavaScript names the town in rōmaji too.
    let page = get(&r, "/?q=ekikita&lang=en", &[("accept", "text/html")]).await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("Ekikita 1-chome (駅北一丁目)</a> (Town"),
        "{html}"
    );
}
