//! Query benchmark: the resident's `/hazard` report (and `/query`, `/search`) on the 焼津
//! sample, in-process and over HTTP on 127.0.0.1 (keep-alive, one connection).
//! `cargo bench --bench queries`; under `cargo test` it only runs a smoke pass.
#![allow(clippy::print_stdout)] // a benchmark's job is to print its table

#[path = "support/synth.rs"]
#[allow(dead_code)]
mod synth;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use chizu::access::View;
use chizu::query::hazard::{report, Lang};
use chizu::store::LayerSnapshot;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn row(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let total: Duration = lat.iter().sum();
    println!(
        "| {name} | {} | {} | {} | {} | {:.0} |",
        lat.len(),
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(*lat.last().expect("runs")),
        lat.len() as f64 / total.as_secs_f64()
    );
}

/// GET over a kept-alive connection; returns the body length.
fn http_get(stream: &mut BufReader<std::net::TcpStream>, host: &str, path: &str) -> usize {
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"
    )
    .expect("write");
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("body");
    len
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    chizu::route_gdal_messages();
    let loaded = chizu::load_root(&root, 2);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let catalog = loaded.catalog;
    let zoning = catalog
        .get("youto_chiiki")
        .and_then(|l| l.lonlat_bounds())
        .expect("bounds");
    let mut rng = synth::Rng::new(7);
    let n = if full { 2000 } else { 20 };
    let points: Vec<(f64, f64)> = (0..n)
        .map(|_| {
            (
                rng.range(zoning[0], zoning[2]),
                rng.range(zoning[1], zoning[3]),
            )
        })
        .collect();
    let layers: Vec<&LayerSnapshot> = catalog.layers().map(AsRef::as_ref).collect();
    let view = View::Public;

    let mut inside = 0;
    let mut in_proc = Vec::with_capacity(n);
    for &(lon, lat) in &points {
        let t = Instant::now();
        let coverage = chizu::query::coverage::Coverage::of(&catalog, &view);
        let r = report(&layers, &view, &coverage, lon, lat, Lang::Ja, 3);
        in_proc.push(t.elapsed());
        inside += usize::from(r.designated);
    }
    if !full {
        println!("queries bench smoke test: {n} hazard reports; `cargo bench --bench queries` gives figures");
        return;
    }

    let state = chizu::http::AppState::new(catalog, chizu::http::HttpSettings::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = chizu::http::router(state, chizu::http::Listener::Public);
    rt.spawn(async move { axum::serve(listener, app).await });
    let host = addr.to_string();
    let mut conn = BufReader::new(std::net::TcpStream::connect(addr).expect("connect"));
    conn.get_mut().set_nodelay(true).expect("nodelay");
    let mut run = |path: &dyn Fn(f64, f64) -> String| -> Vec<Duration> {
        points
            .iter()
            .map(|&(lon, lat)| {
                let t = Instant::now();
                http_get(&mut conn, &host, &path(lon, lat));
                t.elapsed()
            })
            .collect()
    };
    run(&|lon, lat| format!("/hazard?lon={lon}&lat={lat}")); // warm-up
    let hazard_http = run(&|lon, lat| format!("/hazard?lon={lon}&lat={lat}"));
    let query_http = run(&|lon, lat| format!("/query?lon={lon}&lat={lat}&z=16"));
    let search_http = run(&|_, _| "/search?q=%E3%81%AB%E3%81%8F".to_string());

    println!("焼津 sample, {n} random points over the 用途地域 extent ({inside} inside a designated area), 1 client");
    println!();
    println!("| query | runs | p50 µs | p99 µs | max µs | per s |");
    println!("|---|---|---|---|---|---|");
    row("/hazard in-process (report::report)", in_proc);
    row("/hazard over HTTP (keep-alive)", hazard_http);
    row("/query over HTTP (z16, all layers)", query_http);
    row("/search?q=にく over HTTP", search_http);
}
