//! Writes the benchmarks' synthetic dense city (`benches/support/synth.rs`) as files other
//! tools can read, for `bench/compare.sh`: one CSV per layer (WKT in EPSG:3857 plus the
//! attributes), and `tiles.txt`, the fixed z12–z16 tile list (`z/x/y` per line).
//!
//! `cargo run --release --example bench_city -- OUT_DIR [--scale K] [--geojson]`: `--scale`
//! writes a city K times as large at the same density; `--geojson` writes each layer as
//! GeoJSON in lon/lat instead of CSV (for `bench/scale.sh`).
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

#[path = "../benches/support/synth.rs"]
mod synth;

use std::fmt::Write as _;
use std::io::Write as _;

use chizu::store::{Shape, Value};

fn wkt(shape: &Shape) -> String {
    let ring = |r: &[geo::Coord<f64>]| {
        let pts: Vec<String> = r.iter().map(|c| format!("{} {}", c.x, c.y)).collect();
        format!("({})", pts.join(","))
    };
    match shape {
        Shape::Points(p) => {
            let pts: Vec<String> = p.iter().map(|c| format!("({} {})", c.x, c.y)).collect();
            format!("MULTIPOINT({})", pts.join(","))
        }
        Shape::Lines(l) => {
            let parts: Vec<String> = l.iter().map(|p| ring(&p.coords)).collect();
            format!("MULTILINESTRING({})", parts.join(","))
        }
        Shape::Polygons(p) => {
            let polys: Vec<String> = p
                .iter()
                .map(|p| {
                    let rings: Vec<String> = p.rings.iter().map(|r| ring(r)).collect();
                    format!("({})", rings.join(","))
                })
                .collect();
            format!("MULTIPOLYGON({})", polys.join(","))
        }
    }
}

fn csv_value(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        other => other.key().unwrap_or_default(),
    }
}

/// A shape as a GeoJSON geometry in lon/lat (RFC 7946), from its EPSG:3857 coordinates.
fn geojson(shape: &Shape) -> String {
    let pos = |c: &geo::Coord<f64>| {
        let (lon, lat) = chizu::tile::mercator_to_lonlat(c.x, c.y);
        format!("[{lon:.7},{lat:.7}]")
    };
    let line = |r: &[geo::Coord<f64>]| {
        let pts: Vec<String> = r.iter().map(pos).collect();
        format!("[{}]", pts.join(","))
    };
    match shape {
        Shape::Points(p) => {
            let pts: Vec<String> = p.iter().map(pos).collect();
            format!(
                r#"{{"type":"MultiPoint","coordinates":[{}]}}"#,
                pts.join(",")
            )
        }
        Shape::Lines(l) => {
            let parts: Vec<String> = l.iter().map(|p| line(&p.coords)).collect();
            format!(
                r#"{{"type":"MultiLineString","coordinates":[{}]}}"#,
                parts.join(",")
            )
        }
        Shape::Polygons(p) => {
            let polys: Vec<String> = p
                .iter()
                .map(|p| {
                    let rings: Vec<String> = p.rings.iter().map(|r| line(r)).collect();
                    format!("[{}]", rings.join(","))
                })
                .collect();
            format!(
                r#"{{"type":"MultiPolygon","coordinates":[{}]}}"#,
                polys.join(",")
            )
        }
    }
}

fn json_value(v: &Value) -> String {
    match v {
        Value::Str(s) => serde_json::Value::String(s.to_string()).to_string(),
        other => other.key().unwrap_or_else(|| "null".into()),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(
        args.next()
            .expect("usage: bench_city OUT_DIR [--scale K] [--geojson]"),
    );
    let (mut scale, mut as_geojson) = (1u32, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => {
                scale = args
                    .next()
                    .and_then(|k| k.parse().ok())
                    .filter(|&k| k >= 1)
                    .expect("--scale takes a whole number ≥ 1");
            }
            "--geojson" => as_geojson = true,
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&out)?;
    for layer in synth::city_scaled(scale) {
        let names: Vec<&str> = layer.fields.iter().map(|f| f.name.as_str()).collect();
        let ext = if as_geojson { "geojson" } else { "csv" };
        let path = out.join(format!("{}.{ext}", layer.def.id));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        if as_geojson {
            writeln!(f, r#"{{"type":"FeatureCollection","features":["#)?;
            for (i, feat) in layer.features.iter().enumerate() {
                let props: Vec<String> = names
                    .iter()
                    .zip(&*feat.values)
                    .map(|(n, v)| format!("\"{n}\":{}", json_value(v)))
                    .collect();
                let sep = if i + 1 < layer.features.len() {
                    ","
                } else {
                    ""
                };
                writeln!(
                    f,
                    r#"{{"type":"Feature","properties":{{{}}},"geometry":{}}}{sep}"#,
                    props.join(","),
                    geojson(&feat.shape)
                )?;
            }
            writeln!(f, "]}}")?;
        } else {
            writeln!(f, "wkt,{}", names.join(","))?;
            for feat in &layer.features {
                let mut line = format!("\"{}\"", wkt(&feat.shape));
                for v in &*feat.values {
                    let _ = write!(line, ",{}", csv_value(v));
                }
                writeln!(f, "{line}")?;
            }
        }
        eprintln!("{}: {} features", path.display(), layer.features.len());
    }
    // The 1× list, and for a larger city as many tiles of each zoom, evenly spread over
    // it: the same mix, so that tiles/s compare across scales.
    let e = synth::extent_scaled(scale);
    let mut f = std::fs::File::create(out.join("tiles.txt"))?;
    for z in 12..=16 {
        let want = synth::tile_list_zooms(&synth::extent(), z..=z, 10_000).len();
        let all = synth::tile_list_zooms(&e, z..=z, usize::MAX);
        let step = all.len() as f64 / want as f64;
        for i in 0..want {
            writeln!(f, "{}", all[(i as f64 * step) as usize])?;
        }
    }
    let (w, s) = chizu::tile::mercator_to_lonlat(e.min.x, e.min.y);
    let (east, n) = chizu::tile::mercator_to_lonlat(e.max.x, e.max.y);
    std::fs::write(out.join("bounds.txt"), format!("{w} {s} {east} {n}\n"))?;
    Ok(())
}
