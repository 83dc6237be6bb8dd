//! Query benchmark: the resident's `/hazard` report (and `/query`, `/search`) and the lot
//! report (`/land`) on the sample city, and CQL2 filters on the synthetic city's 100,000
//! buildings, in-process and over HTTP on 127.0.0.1 (keep-alive, one connection).
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
    let arcs: Vec<std::sync::Arc<LayerSnapshot>> = catalog.layers().cloned().collect();
    let layers: Vec<&LayerSnapshot> = arcs.iter().map(AsRef::as_ref).collect();
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

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (mut conn, host) = serve(&rt, catalog);
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

    let land_http = run(&|lon, lat| format!("/land?lon={lon}&lat={lat}"));
    // The lot report for a 100 m square at each point, in-process (polygon overlays).
    let land_proc: Vec<Duration> = points
        .iter()
        .map(|&(lon, lat)| {
            let (x, y) = chizu::tile::lonlat_to_mercator(lon, lat);
            let h = 50.0 / lat.to_radians().cos();
            let ring = vec![
                geo::Coord { x: x - h, y: y - h },
                geo::Coord { x: x + h, y: y - h },
                geo::Coord { x: x + h, y: y + h },
                geo::Coord { x: x - h, y: y + h },
                geo::Coord { x: x - h, y: y - h },
            ];
            let subject = chizu::query::land::Subject::Area(
                geo::MultiPolygon(vec![geo::Polygon::new(geo::LineString(ring), vec![])]),
                None,
            );
            let t = Instant::now();
            let r = chizu::query::land::report(&layers, &view, &subject, Lang::Ja);
            let e = t.elapsed();
            assert!(r.area_m2.is_some());
            e
        })
        .collect();

    println!("sample city, {n} random points over the 用途地域 extent ({inside} inside a designated area), 1 client");
    println!();
    println!("| query | runs | p50 µs | p99 µs | max µs | per s |");
    println!("|---|---|---|---|---|---|");
    row("/hazard in-process (report::report)", in_proc);
    row("/hazard over HTTP (keep-alive)", hazard_http);
    row("/query over HTTP (z16, all layers)", query_http);
    row("/search?q=にく over HTTP", search_http);
    row("/land in-process, 100 m square (land::report)", land_proc);
    row("/land?lon&lat over HTTP (point)", land_http);
    cql2(&rt);
}

/// The public router on 127.0.0.1 for `catalog`, and one kept-alive connection to it.
fn serve(
    rt: &tokio::runtime::Runtime,
    catalog: chizu::store::Catalog,
) -> (BufReader<std::net::TcpStream>, String) {
    let state = chizu::http::AppState::new(catalog, chizu::http::HttpSettings::default());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = chizu::http::router(state, chizu::http::Listener::Public);
    rt.spawn(async move { axum::serve(listener, app).await });
    let host = addr.to_string();
    let mut conn = BufReader::new(std::net::TcpStream::connect(addr).expect("connect"));
    conn.get_mut().set_nodelay(true).expect("nodelay");
    (conn, host)
}

fn cql_row(filter: &str, how: &str, matched: usize, mut lat: Vec<Duration>) {
    lat.sort();
    let total: Duration = lat.iter().sum();
    println!(
        "| `{}` {how} | {matched} | {} | {} | {} | {} | {:.0} |",
        filter.chars().take(60).collect::<String>(),
        lat.len(),
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(*lat.last().expect("runs")),
        lat.len() as f64 / total.as_secs_f64()
    );
}

/// CQL2 on the synthetic city's 100,000 buildings: parse, bind and select, in-process and
/// over HTTP (`/collections/buildings/items?limit=10&filter=…`).
fn cql2(rt: &tokio::runtime::Runtime) {
    use chizu::query::cql2::{parse_text, Filter};
    let city = synth::city();
    let buildings = city
        .iter()
        .find(|l| l.def.id.as_str() == "buildings")
        .expect("buildings");
    let ext = synth::extent();
    let (w, s) = chizu::tile::mercator_to_lonlat(ext.min.x, ext.min.y);
    let (e, n) = chizu::tile::mercator_to_lonlat(ext.max.x, ext.max.y);
    let (cx, cy) = (f64::midpoint(w, e), f64::midpoint(s, n));
    let filters = [
        "height >= 20 AND use = '商業'".to_string(),
        "use IN ('商業', '工業') AND NOT height BETWEEN 10 AND 30".to_string(),
        "use LIKE '%業' OR height IS NULL".to_string(),
        format!("S_INTERSECTS(geometry, BBOX({}, {}, {}, {}))", cx - 0.005, cy - 0.005, cx + 0.005, cy + 0.005),
        format!("height > 30 AND S_WITHIN(geometry, POLYGON(({a} {b}, {c} {b}, {c} {d}, {a} {d}, {a} {b})))", a = cx - 0.01, b = cy - 0.01, c = cx + 0.01, d = cy + 0.01),
    ];
    let view = View::Public;
    println!();
    println!(
        "CQL2 over {} synthetic buildings (each filter 50 times; matched = features selected)",
        buildings.features.len()
    );
    println!();
    println!("| filter | matched | runs | p50 µs | p99 µs | max µs | per s |");
    println!("|---|---|---|---|---|---|---|");
    let mut matched_of = Vec::new();
    for f in &filters {
        let mut lat = Vec::new();
        let mut matched = 0;
        for _ in 0..50 {
            let t = Instant::now();
            let e = parse_text(f).expect("parses");
            let bound = Filter::bind(&e, buildings, &view).expect("binds");
            let sel = chizu::query::select(buildings, &view, bound.bbox_hint().as_ref(), &[]);
            matched = sel
                .iter()
                .filter(|&&i| bound.matches(&buildings.features[i]))
                .count();
            lat.push(t.elapsed());
        }
        matched_of.push(matched);
        cql_row(f, "in-process", matched, lat);
    }
    let catalog = chizu::store::Catalog::new(city.clone(), std::collections::BTreeMap::new());
    let (mut conn, host) = serve(rt, catalog);
    for (f, matched) in filters.iter().zip(matched_of) {
        let q: String = form_urlencoded::byte_serialize(f.as_bytes()).collect();
        let path = format!("/collections/buildings/items?limit=10&filter={q}");
        http_get(&mut conn, &host, &path);
        let lat: Vec<Duration> = (0..50)
            .map(|_| {
                let t = Instant::now();
                http_get(&mut conn, &host, &path);
                t.elapsed()
            })
            .collect();
        cql_row(f, "over HTTP, limit 10", matched, lat);
    }
}
