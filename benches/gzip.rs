//! Which gzip for tiles: every non-empty tile z12–z16 of the synthetic dense city and of the
//! 焼津 sample (composite of the public file layers), compressed once per compressor and
//! level — zlib-rs (through flate2, what chizu used) and libdeflate (through libdeflater) —
//! printing bytes (vs zlib-rs level 6) and µs per tile on one core.
//!
//! `cargo bench --bench gzip` prints the table (BENCHMARKS.md "Which gzip"); under
//! `cargo test` it compresses a few tiles, as a smoke test.
#![allow(clippy::print_stdout)] // a benchmark's job is to print its table

#[path = "support/synth.rs"]
#[allow(dead_code)] // shared with the other benches
mod synth;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use chizu::access::View;
use chizu::store::LayerSnapshot;
use chizu::tile::{render, TileCoord};

fn zlib_rs(level: u32) -> impl Fn(&[u8]) -> Vec<u8> {
    move |b| {
        let mut e = flate2::write::GzEncoder::new(
            Vec::with_capacity(b.len() / 2),
            flate2::Compression::new(level),
        );
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    }
}

fn libdeflate(level: i32) -> impl Fn(&[u8]) -> Vec<u8> {
    // One compressor kept (as a server thread would keep its own): making one per tile
    // costs more than compressing a small tile.
    let c = std::cell::RefCell::new(libdeflater::Compressor::new(
        libdeflater::CompressionLvl::new(level).expect("level"),
    ));
    move |b| {
        let mut c = c.borrow_mut();
        let mut out = vec![0; c.gzip_compress_bound(b.len())];
        let n = c.gzip_compress(b, &mut out).expect("gzip");
        out.truncate(n);
        out
    }
}

/// One compressor at one level.
type Gzip = Box<dyn Fn(&[u8]) -> Vec<u8>>;

fn tiles(layers: &[Arc<LayerSnapshot>], list: &[TileCoord]) -> Vec<Vec<u8>> {
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    list.iter()
        .filter_map(|t| render(&refs, &View::Public, *t).expect("cuts"))
        .collect()
}

fn table(name: &str, tiles: &[Vec<u8>], repeats: usize) {
    let raw: usize = tiles.iter().map(Vec::len).sum();
    println!(
        "\n{name}: {} tiles, {} B per tile uncompressed\n",
        tiles.len(),
        raw / tiles.len().max(1)
    );
    println!("| compressor | level | B per tile | vs zlib-rs 6 | µs per tile | MB/s in |");
    println!("|---|---|---|---|---|---|");
    let mut rows: Vec<(String, u32, Gzip)> = Vec::new();
    for l in [1, 3, 6, 9] {
        rows.push(("zlib-rs (flate2)".into(), l, Box::new(zlib_rs(l))));
    }
    for l in [1, 2, 3, 4, 5, 6, 7, 9, 12] {
        rows.push(("libdeflate".into(), l, Box::new(libdeflate(l as i32))));
    }
    let base: usize = tiles.iter().map(|t| zlib_rs(6)(t).len()).sum();
    for (c, level, f) in &rows {
        let mut best = f64::MAX;
        let mut bytes = 0;
        for _ in 0..repeats {
            let t0 = Instant::now();
            bytes = tiles.iter().map(|t| f(t).len()).sum::<usize>();
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let n = tiles.len().max(1);
        println!(
            "| {c} | {level} | {} | {:.1} % | {:.0} | {:.0} |",
            bytes / n,
            100.0 * bytes as f64 / base.max(1) as f64,
            best * 1e6 / n as f64,
            raw as f64 / best / 1e6
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let city = synth::city();
    let mut city_list = synth::tile_list(&synth::extent(), if full { 10_000 } else { 2 });
    let (sample, area) = synth::sample_public();
    let mut sample_list = synth::tile_list(&area, if full { 10_000 } else { 2 });
    if !full {
        // Under `cargo test`: a few tiles from the middle of each list (its first z12
        // tiles are the corners, often empty), which must compress and decompress.
        city_list = city_list.split_off(city_list.len() / 2);
        city_list.truncate(4);
        sample_list = sample_list.split_off(sample_list.len() / 2);
        sample_list.truncate(4);
        let some = tiles(&sample, &sample_list);
        assert!(!some.is_empty(), "the smoke test has tiles to compress");
        for t in &some {
            let mut back = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&chizu::tile::gzip(t)[..]),
                &mut back,
            )
            .expect("gunzip");
            assert_eq!(&back, t);
        }
    }
    let repeats = if full { 3 } else { 1 };
    println!("gzip of every non-empty z12–z16 tile (best of {repeats} passes, one core)");
    table("Synthetic dense city", &tiles(&city, &city_list), repeats);
    table("焼津 sample", &tiles(&sample, &sample_list), repeats);
}
