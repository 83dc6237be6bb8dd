//! Writes the benchmarks' synthetic dense city (`benches/support/synth.rs`) as files other
//! tools can read, for `bench/compare.sh`: one CSV per layer (WKT in EPSG:3857 plus the
//! attributes), and `tiles.txt`, the fixed z12–z16 tile list (`z/x/y` per line).
//!
//! `cargo run --release --example bench_city -- OUT_DIR`
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

fn main() -> std::io::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: bench_city OUT_DIR"));
    std::fs::create_dir_all(&out)?;
    for layer in synth::city() {
        let path = out.join(format!("{}.csv", layer.def.id));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let names: Vec<&str> = layer.fields.iter().map(|f| f.name.as_str()).collect();
        writeln!(f, "wkt,{}", names.join(","))?;
        for feat in &layer.features {
            let mut line = format!("\"{}\"", wkt(&feat.shape));
            for v in &*feat.values {
                let _ = write!(line, ",{}", csv_value(v));
            }
            writeln!(f, "{line}")?;
        }
        eprintln!("{}: {} features", path.display(), layer.features.len());
    }
    let mut f = std::fs::File::create(out.join("tiles.txt"))?;
    for t in synth::tile_list(&synth::extent(), 10_000) {
        writeln!(f, "{t}")?;
    }
    let e = synth::extent();
    let (w, s) = chizu::tile::mercator_to_lonlat(e.min.x, e.min.y);
    let (east, n) = chizu::tile::mercator_to_lonlat(e.max.x, e.max.y);
    std::fs::write(out.join("bounds.txt"), format!("{w} {s} {east} {n}\n"))?;
    Ok(())
}
