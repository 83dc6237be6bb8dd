//! Shared fixtures: the sample city loaded once, a router over it, and an independent
//! MVT decoder (the `mvt-reader` crate, not geozero which encodes).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chizu::http::{router, AppState, AuditLog, HttpSettings, InternalGate, Listener};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sample city, loaded once for the whole test binary.
pub fn state() -> Arc<AppState> {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            chizu::route_gdal_messages();
            let loaded = chizu::load_root(&root(), 2);
            assert!(
                loaded.errors.is_empty(),
                "sample city must load cleanly: {:?}",
                loaded.errors
            );
            let app = AppState::new(
                loaded.catalog,
                HttpSettings {
                    web_root: root().join("web"),
                    ..HttpSettings::default()
                },
            );
            seed_live(&app);
            app
        })
        .clone()
}

/// The sample's live layer with one published and one unpublished report, each with a
/// staff-only memo, in a state folder that lives as long as the test binary.
fn seed_live(app: &AppState) {
    static STATE_DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = STATE_DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    let defs = app.catalog.load().live_defs();
    let store = chizu::live::LiveStore::open(
        &chizu::live::Storage::Sqlite(dir.path().to_path_buf()),
        &defs,
    )
    .expect("state opens");
    let who = chizu::access::Principal {
        name: "seed".into(),
        roles: ["admin".to_string()].into_iter().collect(),
    };
    for (lon, lat, props) in [
        (
            138.318,
            34.866,
            r#"{"kind":"冠水","public":true,"note":"公開済みの冠水情報","staff_memo":"庁内限定メモ甲"}"#,
        ),
        (
            138.29,
            34.85,
            r#"{"kind":"倒木","note":"未公開の倒木情報乙","staff_memo":"庁内限定メモ丙"}"#,
        ),
    ] {
        let body: serde_json::Value = serde_json::from_str(&format!(
            r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},"properties":{props}}}"#
        ))
        .expect("json");
        store
            .create(&app.catalog, "saigai_houkoku", &who, &body)
            .expect("seeded");
    }
    app.attach_live(store);
}

pub fn public_router() -> Router {
    router(state(), Listener::Public)
}

/// A public router over the sample city with its own tile cache and counters.
pub fn fresh_public_router() -> Router {
    let app = AppState::new(
        (*state().catalog.load_full()).clone(),
        HttpSettings {
            web_root: root().join("web"),
            ..HttpSettings::default()
        },
    );
    router(app, Listener::Public)
}

/// Keys for the internal listener in tests, one per role, plus where the audit goes.
pub struct Staff {
    pub admin: String,
    pub doro: String,
    pub kiki: String,
    pub toshi: String,
    /// A gauges' gateway: the `sensor` role only.
    pub sensor: String,
    pub keys_file: PathBuf,
    pub audit_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// The public router on a real socket on 127.0.0.1 (for clients such as GDAL); abort the
/// handle when done.
pub async fn serve_public() -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, public_router()).await });
    (addr, server)
}

/// An internal router over the shared sample state with fresh keys and audit file.
pub fn internal_router() -> (Router, Staff) {
    internal_router_with(state())
}

pub fn internal_router_with(app: Arc<AppState>) -> (Router, Staff) {
    use chizu::access::keys;
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_file = dir.path().join("keys.toml");
    let audit_file = dir.path().join("audit.log");
    let add =
        |name: &str, role: &str| keys::add(&keys_file, name, &[role.to_string()]).expect("key");
    let staff = Staff {
        admin: add("kanrisha", "admin"),
        doro: add("doro-tanaka", "doro-kanri"),
        kiki: add("kiki-suzuki", "kiki-kanri"),
        toshi: add("toshi-sato", "toshi-keikaku"),
        sensor: add("suii-gateway", "sensor"),
        keys_file: keys_file.clone(),
        audit_file: audit_file.clone(),
        _dir: dir,
    };
    let gate = InternalGate {
        keys: chizu::access::keys::KeyRing::open(&keys_file).expect("ring"),
        audit: AuditLog::file(&audit_file).expect("audit"),
    };
    (router(app, Listener::Internal(Arc::new(gate))), staff)
}

pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as sent, decoded from gzip or brotli as its `Content-Encoding` says.
    pub fn decoded(&self) -> Vec<u8> {
        use std::io::Read as _;
        let mut out = Vec::new();
        match self.header("content-encoding") {
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("gzip");
            }
            Some("br") => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut out)
                    .expect("brotli");
            }
            _ => out.clone_from(&self.body),
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let body = self.decoded();
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn get(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Resp {
    send(app, "GET", uri, Body::empty(), headers).await
}

/// A JSON `POST` (e.g. a drawn polygon to `/land`).
pub async fn post_json(app: &Router, uri: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    send(app, "POST", uri, Body::from(body.to_string()), &h).await
}

pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    body: Body,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8080");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// A decoded layer: name, extent and features as `mvt-reader` sees them.
pub struct Decoded {
    pub name: String,
    pub extent: u32,
    pub features: Vec<mvt_reader::feature::Feature<f64>>,
}

pub fn decode(bytes: &[u8]) -> Vec<Decoded> {
    let reader = mvt_reader::Reader::new(bytes.to_vec()).expect("tile parses");
    let meta = reader.get_layer_metadata().expect("layer metadata");
    meta.iter()
        .enumerate()
        .map(|(i, m)| Decoded {
            name: m.name.clone(),
            extent: m.extent,
            features: reader.get_features_as::<f64>(i).expect("features decode"),
        })
        .collect()
}

/// Twice the signed area (surveyor's formula) of a closed ring in tile space.
pub fn area2(ring: &geo::LineString<f64>) -> f64 {
    ring.0
        .windows(2)
        .map(|w| w[0].x * w[1].y - w[1].x * w[0].y)
        .sum()
}

/// Asserts the MVT 2.1 invariants on every polygon and line of a decoded tile.
pub fn assert_tile_invariants(layers: &[Decoded], buffer: f64, what: &str) {
    let mut names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "{what}: layer names must be unique");
    for l in layers {
        let max = f64::from(l.extent) + buffer;
        let in_range =
            |c: &geo::Coord<f64>| c.x >= -buffer && c.x <= max && c.y >= -buffer && c.y <= max;
        for f in &l.features {
            match &f.geometry {
                geo::Geometry::Polygon(p) => check_polygon(p, &in_range, what, &l.name),
                geo::Geometry::MultiPolygon(mp) => {
                    mp.0.iter()
                        .for_each(|p| check_polygon(p, &in_range, what, &l.name));
                }
                geo::Geometry::LineString(ls) => {
                    assert!(ls.0.len() >= 2, "{what}/{}: line with < 2 points", l.name);
                    assert!(
                        ls.0.iter().all(in_range),
                        "{what}/{}: line outside buffer",
                        l.name
                    );
                }
                geo::Geometry::MultiLineString(ml) => {
                    for ls in &ml.0 {
                        assert!(ls.0.len() >= 2, "{what}/{}: line with < 2 points", l.name);
                        assert!(
                            ls.0.iter().all(in_range),
                            "{what}/{}: line outside buffer",
                            l.name
                        );
                    }
                }
                geo::Geometry::Point(p) => {
                    assert!(in_range(&p.0), "{what}/{}: point outside buffer", l.name);
                }
                geo::Geometry::MultiPoint(mp) => assert!(mp.0.iter().all(|p| in_range(&p.0))),
                other => panic!("{what}/{}: unexpected geometry {other:?}", l.name),
            }
        }
    }
}

fn check_polygon(
    p: &geo::Polygon<f64>,
    in_range: &dyn Fn(&geo::Coord<f64>) -> bool,
    what: &str,
    layer: &str,
) {
    let ext = p.exterior();
    assert!(
        ext.0.len() >= 4,
        "{what}/{layer}: exterior ring with < 3 distinct points"
    );
    assert!(
        area2(ext) > 0.0,
        "{what}/{layer}: exterior ring must have positive area in tile space"
    );
    assert!(
        ext.0.iter().all(in_range),
        "{what}/{layer}: exterior outside extent + buffer"
    );
    for h in p.interiors() {
        assert!(
            h.0.len() >= 4,
            "{what}/{layer}: hole with < 3 distinct points"
        );
        assert!(
            area2(h) < 0.0,
            "{what}/{layer}: hole must have negative area (zero-area rings are forbidden)"
        );
        assert!(
            h.0.iter().all(in_range),
            "{what}/{layer}: hole outside extent + buffer"
        );
    }
}

/// The tile and tile-space position of a lon/lat point.
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (chizu::tile::TileCoord, (f64, f64)) {
    let (x, y) = chizu::tile::lonlat_to_mercator(lon, lat);
    let t = chizu::tile::TileCoord::containing(z, x, y);
    let tr = chizu::tile::TileTransform::new(&t, 4096);
    (t, tr.apply(x, y))
}

pub fn data(path: &str) -> PathBuf {
    root().join("data/yaizu").join(path)
}

/// A GET over a real socket (one connection, `Connection: close`), with an optional key.
pub fn http_get(addr: &str, path: &str, key: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp
}

/// Every edge of a decoded polygon geometry's rings.
pub fn outline(g: &geo::Geometry<f64>) -> Vec<geo::Line<f64>> {
    let polys: Vec<&geo::Polygon<f64>> = match g {
        geo::Geometry::Polygon(p) => vec![p],
        geo::Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        _ => Vec::new(),
    };
    polys
        .into_iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|r| r.lines().collect::<Vec<_>>())
        .collect()
}

/// Waits (up to a minute) for a spawned `chizu serve` to log the `view` listener
/// ("public view" or "internal view") and returns its address; the child's stderr is
/// read on a thread from then on.
pub fn listener_address(child: &mut std::process::Child, view: &str) -> String {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("serve starts");
        if line.contains(view) {
            break line
                .split("on http://")
                .nth(1)
                .expect("addr")
                .trim()
                .to_string();
        }
    }
}

/// The public and internal addresses a spawned `chizu serve` prints (its stderr piped);
/// the rest of its stderr is read away so it never blocks on a full pipe.
pub fn listener_addresses(child: &mut std::process::Child) -> (String, String) {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut public, mut internal) = (None, None);
    while public.is_none() || internal.is_none() {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("serve starts");
        let addr = line
            .split("on http://")
            .nth(1)
            .map(|a| a.trim().to_string());
        if line.contains("public view") {
            public = addr;
        } else if line.contains("internal view") {
            internal = addr;
        }
    }
    (public.expect("public"), internal.expect("internal"))
}
