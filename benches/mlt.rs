//! MapLibre Tiles vs MVT: bytes per tile, raw and gzip (level 6, as served), and the time to
//! make the MLT from the cut MVT, per zoom, for the synthetic dense city and the 焼津
//! sample (the composite of every public layer). Several `mlt-core` encoder choices are
//! compared: the default, without `FastPFor` (whose bytes gzip compresses less), and each
//! with features kept in the cut's order instead of trying four orders for the smallest.
//!
//! `cargo bench --bench mlt` prints the table (BENCHMARKS.md "MapLibre Tiles"); under
//! `cargo test` it converts a few tiles, as a smoke test.
#![allow(clippy::print_stdout)] // a benchmark's job is to print its table

#[path = "support/synth.rs"]
#[allow(dead_code)] // shared with the other benches
mod synth;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chizu::access::View;
use chizu::store::LayerSnapshot;
use chizu::tile::{mvt_to_mlt_with, render, TileCoord};
use mlt_core::encoder::EncoderConfig;

fn gzip(b: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip").len()
}

#[derive(Default, Clone)]
struct Sums {
    tiles: usize,
    mvt: usize,
    mvt_gz: usize,
    mlt: Vec<(usize, usize, Duration)>,
}

fn configs() -> Vec<(&'static str, EncoderConfig)> {
    let one_order = |c: EncoderConfig| {
        c.with_spatial_morton_sort(false)
            .with_spatial_hilbert_sort(false)
            .with_id_sort(false)
    };
    vec![
        ("default", EncoderConfig::default()),
        ("no FastPFor", EncoderConfig::default().with_fastpfor(false)),
        ("default, one order", one_order(EncoderConfig::default())),
        (
            "no FastPFor, one order",
            one_order(EncoderConfig::default().with_fastpfor(false)),
        ),
    ]
}

fn measure(layers: &[Arc<LayerSnapshot>], list: &[TileCoord]) -> Vec<(u8, Sums)> {
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    let cfgs = configs();
    let mut by_zoom: Vec<(u8, Sums)> = Vec::new();
    for &t in list {
        let Some(mvt) = render(&refs, &View::Public, t).expect("cuts") else {
            continue;
        };
        if by_zoom.last().is_none_or(|(z, _)| *z != t.z()) {
            by_zoom.push((
                t.z(),
                Sums {
                    mlt: vec![(0, 0, Duration::ZERO); cfgs.len()],
                    ..Sums::default()
                },
            ));
        }
        let s = &mut by_zoom.last_mut().expect("zoom").1;
        s.tiles += 1;
        s.mvt += mvt.len();
        s.mvt_gz += gzip(&mvt);
        for (i, (_, cfg)) in cfgs.iter().enumerate() {
            let t0 = Instant::now();
            let mlt = mvt_to_mlt_with(&mvt, *cfg).expect("MLT");
            s.mlt[i].2 += t0.elapsed();
            s.mlt[i].0 += mlt.len();
            s.mlt[i].1 += gzip(&mlt);
        }
    }
    by_zoom
}

fn table(name: &str, rows: &[(u8, Sums)]) {
    let cfgs = configs();
    println!("\n{name}\n");
    print!("| z | tiles | MVT B/tile | MVT gzip B/tile |");
    for (c, _) in &cfgs {
        print!(" MLT {c}: B/tile, gzip B/tile, gzip vs MVT gzip, µs/tile |");
    }
    println!();
    println!("|---|---|---|---|{}", "---|".repeat(cfgs.len()));
    let mut total = Sums {
        mlt: vec![(0, 0, Duration::ZERO); cfgs.len()],
        ..Sums::default()
    };
    let line = |z: &str, s: &Sums| {
        let n = s.tiles.max(1);
        print!("| {z} | {} | {} | {} |", s.tiles, s.mvt / n, s.mvt_gz / n);
        for m in &s.mlt {
            print!(
                " {}, {}, {:.0} %, {:.0} |",
                m.0 / n,
                m.1 / n,
                100.0 * m.1 as f64 / s.mvt_gz.max(1) as f64,
                m.2.as_secs_f64() * 1e6 / n as f64
            );
        }
        println!();
    };
    for (z, s) in rows {
        line(&z.to_string(), s);
        total.tiles += s.tiles;
        total.mvt += s.mvt;
        total.mvt_gz += s.mvt_gz;
        for (t, m) in total.mlt.iter_mut().zip(&s.mlt) {
            t.0 += m.0;
            t.1 += m.1;
            t.2 += m.2;
        }
    }
    line("all", &total);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let per_zoom = if full { 400 } else { 2 };
    let city = synth::city();
    let mut city_list = synth::tile_list_zooms(&synth::extent(), 10..=16, per_zoom);
    let (sample, area) = synth::sample_public();
    let mut sample_list = synth::tile_list_zooms(&area, 10..=16, per_zoom);
    if !full {
        city_list.truncate(6);
        sample_list.truncate(6);
        let a = measure(&city, &city_list);
        let b = measure(&sample, &sample_list);
        assert!(!a.is_empty() && !b.is_empty());
        println!("mlt bench smoke test: `cargo bench --bench mlt` gives figures");
        return;
    }
    println!("Bytes per non-empty tile, z10–z16 (every tile to z14, an even sample of {per_zoom} above), composite of all public layers; gzip level 6.");
    table(
        "Synthetic dense city (buildings, roads, floods)",
        &measure(&city, &city_list),
    );
    table(
        "焼津 sample (every public file layer)",
        &measure(&sample, &sample_list),
    );
}
