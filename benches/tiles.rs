//! Tile-cutting benchmark: a fixed list of ≥ 1,000 z12–z16 tiles from (a) the synthetic
//! dense city and (b) the 焼津 sample, cut on 1 and on all cores; prints a Markdown table
//! (tiles/s, p50/p99/max per tile, bytes) and the sample's cold-start ingest time.
//!
//! `cargo bench --bench tiles` runs it; under `cargo test` it only cuts a few tiles, as a
//! smoke test. Results and method are recorded in BENCHMARKS.md.
#![allow(clippy::print_stdout)] // a benchmark's job is to print its table

#[path = "support/synth.rs"]
mod synth;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chizu::access::View;
use chizu::store::LayerSnapshot;
use chizu::tile::{render, TileCoord};

struct Run {
    tiles_per_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    bytes: usize,
    non_empty: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Cuts every tile of `list` once on `threads` threads; per-tile latency and throughput.
fn run(layers: &[Arc<LayerSnapshot>], list: &[TileCoord], threads: usize) -> Run {
    let refs: Vec<&LayerSnapshot> = layers.iter().map(AsRef::as_ref).collect();
    let view = View::Public;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(Duration, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&t) = list.get(i) else { break };
                        let t0 = Instant::now();
                        let tile = render(&refs, &view, t).expect("tile cuts");
                        out.push((t0.elapsed(), tile.map_or(0, |b| b.len())));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let wall = started.elapsed();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    Run {
        tiles_per_s: list.len() as f64 / wall.as_secs_f64(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: *lat.last().expect("tiles"),
        bytes: results.iter().map(|r| r.1).sum(),
        non_empty: results.iter().filter(|r| r.1 > 0).count(),
    }
}

fn median_run(
    layers: &[Arc<LayerSnapshot>],
    list: &[TileCoord],
    threads: usize,
    repeats: usize,
) -> Run {
    let mut runs: Vec<Run> = (0..repeats).map(|_| run(layers, list, threads)).collect();
    runs.sort_by(|a, b| a.tiles_per_s.total_cmp(&b.tiles_per_s));
    runs.swap_remove(repeats / 2)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn row(name: &str, list: &[TileCoord], threads: usize, r: &Run) {
    let threads = if name.contains(" | z") {
        String::new()
    } else {
        format!(" {threads} |")
    };
    println!(
        "| {name} | {} |{threads} {:.0} | {} | {} | {} | {} | {:.1} |",
        list.len(),
        r.tiles_per_s,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.non_empty,
        r.bytes as f64 / r.non_empty.max(1) as f64 / 1024.0
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let repeats = 5;

    let t0 = Instant::now();
    let city = synth::city();
    let built = t0.elapsed();
    let mut city_list = synth::tile_list(&synth::extent(), 10_000);
    if !full {
        city_list.truncate(20);
    }

    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    chizu::route_gdal_messages();
    let mut cold = Vec::new();
    let mut sample = None;
    for _ in 0..if full { 3 } else { 1 } {
        let t = Instant::now();
        let loaded = chizu::load_root(&root, cores);
        cold.push(t.elapsed());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        sample = Some(loaded.catalog);
    }
    cold.sort();
    let sample = sample.expect("loaded");
    let sample_layers: Vec<Arc<LayerSnapshot>> = sample
        .layers()
        .filter(|l| l.def.is_public())
        .cloned()
        .collect();
    let area = sample_layers
        .iter()
        .find(|l| l.def.id.as_str() == "youto_chiiki")
        .and_then(|l| l.bounds)
        .expect("zoning bounds");
    let mut sample_list = synth::tile_list(&area, 10_000);
    if !full {
        sample_list.truncate(20);
    }

    if !full {
        // Under `cargo test`: a smoke test of the harness, no figures (debug build).
        let a = run(&city, &city_list, 1);
        let b = run(&sample_layers, &sample_list, 1);
        assert!(a.non_empty > 0 && b.non_empty > 0);
        println!(
            "tiles bench smoke test: cut {} tiles; `cargo bench --bench tiles` gives figures",
            city_list.len() + sample_list.len()
        );
        return;
    }
    // Warm-up: touch every tile once so page faults and allocator growth are not measured.
    run(&city, &city_list, cores);
    run(&sample_layers, &sample_list, cores);

    println!("synthetic city: 100,000 buildings, 30,000 roads, 2,000 flood polygons with holes (built in {} ms)", built.as_millis());
    println!("焼津 sample cold start (load + index all {} layers, {cores} threads): median {} ms of {} runs", sample.layers().count(), cold[cold.len() / 2].as_millis(), cold.len());
    println!();
    println!("| input (composite of all layers) | tiles | threads | tiles/s | p50 ms | p99 ms | max ms | non-empty | avg KiB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for threads in [1, cores] {
        let r = median_run(&city, &city_list, threads, repeats);
        row("synthetic dense city z12–z16", &city_list, threads, &r);
    }
    for threads in [1, cores] {
        let r = median_run(&sample_layers, &sample_list, threads, repeats);
        row("焼津 sample z12–z16", &sample_list, threads, &r);
    }
    println!();
    println!("Per layer and zoom, synthetic city, 1 thread (where the time goes):");
    println!();
    println!("| layer | zoom | tiles | tiles/s | p50 ms | p99 ms | max ms | non-empty | avg KiB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let deep = synth::tile_list_zooms(&synth::extent(), 8..=16, 10_000);
    for layer in &city {
        for z in 8..=16u8 {
            let list: Vec<TileCoord> = deep.iter().copied().filter(|t| t.z() == z).collect();
            if list.is_empty() {
                continue;
            }
            let r = median_run(std::slice::from_ref(layer), &list, 1, repeats);
            row(&format!("{} | z{z}", layer.def.id), &list, 1, &r);
        }
    }
}
