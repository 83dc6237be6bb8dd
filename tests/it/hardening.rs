//! What the hardening issue found, each reproduced and now held: partial files never
//! replace good data, reloads match layers by id, an unreadable `layers/` changes nothing,
//! fingerprints see content and permission changes, a broken keys file fails closed,
//! composites share one cache entry whatever their order, a client that does not read
//! holds a shed slot, idle and slow connections are closed, one listener's connections
//! cannot exhaust the other's, the audit log fails closed, and the public view learns
//! nothing of hidden features or of other roles' layers.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{bearer, get, internal_router_with};
use crate::reload::{app_for, small_root};

fn reload(app: &Arc<chizu::http::AppState>) -> chizu::reload::ReloadSummary {
    app.reload().expect("reload runs")
}

fn count(app: &chizu::http::AppState, id: &str) -> (usize, u64) {
    let c = app.catalog.load();
    let l = c.get(id).expect("layer serves");
    (l.features.len(), l.version)
}

fn failure(app: &chizu::http::AppState, id: &str) -> String {
    app.catalog
        .load()
        .failed()
        .get(id)
        .cloned()
        .unwrap_or_default()
}

fn landslide(r: &Path, ext: &str) -> PathBuf {
    r.join(format!(
        "data/yaizu/土砂災害警戒区域/土砂災害警戒区域.{ext}"
    ))
}

fn cut(p: &Path, keep: usize) {
    let b = std::fs::read(p).expect("read");
    std::fs::write(p, &b[..keep]).expect("write");
}

#[test]
fn a_half_shp_never_reloads_as_good_data() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    let shp = landslide(&r, "shp");
    let len = std::fs::metadata(&shp).expect("shp").len() as usize;
    cut(&shp, len / 2);
    let s = reload(&app);
    assert!(s.reloaded.is_empty(), "{s:?}");
    assert_eq!(count(&app, "dosha_keikai"), (102, 1));
    assert!(
        failure(&app, "dosha_keikai").contains("truncated .shp"),
        "{}",
        failure(&app, "dosha_keikai")
    );
}

#[test]
fn a_shp_short_by_a_kilobyte_is_refused_too() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    let shp = landslide(&r, "shp");
    let len = std::fs::metadata(&shp).expect("shp").len() as usize;
    cut(&shp, len - 1000);
    reload(&app);
    assert_eq!(count(&app, "dosha_keikai"), (102, 1));
    assert!(failure(&app, "dosha_keikai").contains(".shp"));
}

#[test]
fn a_half_dbf_with_a_matching_header_is_refused() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    let dbf = landslide(&r, "dbf");
    let mut b = std::fs::read(&dbf).expect("dbf");
    let header = usize::from(u16::from_le_bytes([b[8], b[9]]));
    let record = usize::from(u16::from_le_bytes([b[10], b[11]]));
    b[4..8].copy_from_slice(&51u32.to_le_bytes());
    b.truncate(header + 51 * record);
    std::fs::write(&dbf, &b).expect("write");
    reload(&app);
    assert_eq!(count(&app, "dosha_keikai"), (102, 1));
    let why = failure(&app, "dosha_keikai");
    assert!(
        why.contains("the .dbf holds 51 records but the .shx indexes 102"),
        "{why}"
    );
}

#[test]
fn a_cut_csv_fails_and_a_header_only_csv_is_held_back_until_accepted() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    let csv = r.join("data/yaizu/避難所一覧/222127_hinannjo.csv");
    let whole = std::fs::read(&csv).expect("csv");
    // Cut in the middle of a record.
    let text = String::from_utf8(whole.clone()).expect("utf-8");
    let half = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| i >= text.len() / 2)
        .expect("half");
    let mid = text[half..].find(',').map_or(half, |j| half + j + 1);
    std::fs::write(&csv, &text[..mid]).expect("write");
    reload(&app);
    assert_eq!(count(&app, "hinanjo"), (56, 1));
    assert!(
        failure(&app, "hinanjo").contains("CSV ends mid-record"),
        "{}",
        failure(&app, "hinanjo")
    );
    // Cut to its header line: valid, but 56 → 0 is held back.
    let header = text.split_inclusive('\n').next().expect("header");
    std::fs::write(&csv, header).expect("write");
    reload(&app);
    assert_eq!(count(&app, "hinanjo"), (56, 1));
    let why = failure(&app, "hinanjo");
    assert!(
        why.contains("0 features where 56 are serving") && why.contains("--accept hinanjo"),
        "{why}"
    );
    // Accepted, it is taken.
    let s = app
        .reload_accepting(["hinanjo".to_string()].into())
        .expect("runs");
    assert_eq!(s.reloaded, ["hinanjo"]);
    assert_eq!(count(&app, "hinanjo"), (0, 2));
}

#[tokio::test]
async fn the_admin_route_accepts_a_held_back_layer() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    let csv = r.join("data/yaizu/避難所一覧/222127_hinannjo.csv");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let header = text
        .split_inclusive('\n')
        .next()
        .expect("header")
        .to_string();
    std::fs::write(&csv, header).expect("write");
    let (internal, staff) = internal_router_with(Arc::clone(&app));
    let post = |uri: &'static str, key: String| {
        let internal = internal.clone();
        async move {
            use tower::ServiceExt as _;
            internal
                .oneshot(
                    axum::http::Request::post(uri)
                        .header("authorization", bearer(&key))
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("answer")
        }
    };
    let r1 = post("/admin/reload", staff.admin.clone()).await;
    assert_eq!(r1.status().as_u16(), 200);
    assert_eq!(count(&app, "hinanjo").0, 56);
    let r2 = post("/admin/reload?accept=hinanjo", staff.admin.clone()).await;
    assert_eq!(r2.status().as_u16(), 200);
    assert_eq!(count(&app, "hinanjo").0, 0);
    assert_eq!(
        post("/admin/reload?accept=Bad%20Id", staff.admin.clone())
            .await
            .status(),
        400
    );
}

#[test]
fn a_layer_whose_id_differs_from_its_file_name_goes_stale_not_missing() {
    let (_d, r) = small_root();
    let from = r.join("layers/hinanjo.toml");
    let to = r.join("layers/shelters_file.toml");
    let text = std::fs::read_to_string(&from).expect("toml");
    std::fs::remove_file(&from).expect("rm");
    std::fs::write(&to, format!("id = \"hinanjo\"\n{text}")).expect("write");
    let app = app_for(&r);
    assert_eq!(count(&app, "hinanjo").0, 56);
    std::fs::write(&to, "id = \"hinanjo\"\nthis is not toml").expect("break");
    let s = reload(&app);
    assert!(s.removed.is_empty(), "{s:?}");
    assert_eq!(count(&app, "hinanjo"), (56, 1));
    assert!(failure(&app, "hinanjo").contains("serving version 1"));
}

#[tokio::test]
async fn an_unreadable_layers_folder_changes_nothing() {
    let (_d, r) = small_root();
    let app = app_for(&r);
    std::fs::rename(r.join("layers"), r.join("layers.moved")).expect("move");
    let s = reload(&app);
    assert!(s.aborted.is_some() && s.removed.is_empty(), "{s:?}");
    assert_eq!(count(&app, "hinanjo"), (56, 1));
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let h = get(&public, "/health", &[]).await;
    assert_eq!(
        (h.status.as_u16(), h.json()["status"].as_str()),
        (200, Some("ok"))
    );
}

#[test]
fn fingerprints_see_permissions_and_content_that_keeps_size_and_time() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_d, r) = small_root();
    let def = chizu::config::LayerDef::from_file(&r.join("layers/hinanjo.toml")).expect("def");
    let csv = r.join("data/yaizu/避難所一覧/222127_hinannjo.csv");
    let fp = chizu::reload::fingerprint(&r, &def);
    std::fs::set_permissions(&csv, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    assert_ne!(
        chizu::reload::fingerprint(&r, &def),
        fp,
        "a permission change is a change"
    );
    std::fs::set_permissions(&csv, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Same length, same modification time, other bytes.
    let mtime = std::fs::metadata(&csv)
        .expect("meta")
        .modified()
        .expect("mtime");
    let mut b = std::fs::read(&csv).expect("csv");
    let at = b.len() - 3;
    b[at] = if b[at] == b'1' { b'2' } else { b'1' };
    let before = chizu::reload::fingerprint(&r, &def);
    std::fs::write(&csv, &b).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&csv)
        .and_then(|f| f.set_modified(mtime))
        .expect("touch -r");
    assert_ne!(chizu::reload::fingerprint(&r, &def), before);
}

#[test]
fn a_broken_keys_file_refuses_every_key_and_an_old_mtime_does_not_hide_a_revocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.toml");
    let old = chizu::access::keys::add(&path, "tanaka", &["doro-kanri".into()]).expect("add");
    let ring = chizu::access::keys::KeyRing::open(&path).expect("ring");
    assert!(ring.authenticate(&old).is_some());
    let good = std::fs::read(&path).expect("read");
    std::fs::write(&path, "[[keys]]\nname = ").expect("break");
    assert!(ring.authenticate(&old).is_none(), "fail closed");
    std::fs::write(&path, &good).expect("fix");
    assert!(ring.authenticate(&old).is_some());
    // Revoke and add the same name, then put the old modification time back.
    let mtime = std::fs::metadata(&path)
        .expect("meta")
        .modified()
        .expect("mtime");
    chizu::access::keys::revoke(&path, "tanaka").expect("revoke");
    let new = chizu::access::keys::add(&path, "tanaka", &["doro-kanri".into()]).expect("add");
    let len = std::fs::metadata(&path).expect("meta").len();
    assert_eq!(
        len,
        good.len() as u64,
        "same length, so only ctime/inode can tell"
    );
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("touch -r");
    assert!(
        ring.authenticate(&old).is_none(),
        "the revoked key is refused"
    );
    assert!(ring.authenticate(&new).is_some());
}

#[tokio::test]
async fn composite_permutations_are_one_cache_entry() {
    let app = crate::common::state();
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let (t, _) = crate::common::tile_of(138.30, 34.87, 11);
    let a = format!(
        "/tiles/kouzui_shinsui,dosha_keikai,hinanjo/{}/{}/{}.mvt",
        t.z(),
        t.x(),
        t.y()
    );
    let b = format!(
        "/tiles/hinanjo,kouzui_shinsui,dosha_keikai/{}/{}/{}.mvt",
        t.z(),
        t.x(),
        t.y()
    );
    let before = app.cache.entry_count().await;
    let x = get(&public, &a, &[]).await;
    let misses = app
        .metrics
        .cache_misses
        .load(std::sync::atomic::Ordering::Relaxed);
    let y = get(&public, &b, &[]).await;
    assert_eq!(x.body, y.body);
    assert_eq!(
        app.metrics
            .cache_misses
            .load(std::sync::atomic::Ordering::Relaxed),
        misses,
        "the permutation was a hit"
    );
    assert!(app.cache.entry_count().await <= before + 1);
}

#[tokio::test]
async fn a_response_not_yet_read_holds_its_slot() {
    use tower::ServiceExt as _;
    let loaded = chizu::load_root(&crate::common::root(), 2);
    let app = chizu::http::AppState::new(
        loaded.catalog,
        chizu::http::HttpSettings {
            max_concurrent: 2,
            ..Default::default()
        },
    );
    let public = chizu::http::router(app, chizu::http::Listener::Public);
    let req = || {
        axum::http::Request::get("/collections/kouzui_shinsui/items?limit=100")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let first = public.clone().oneshot(req()).await.expect("answer");
    let second = public.clone().oneshot(req()).await.expect("answer");
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = public.clone().oneshot(req()).await.expect("answer");
    assert_eq!(
        third.status().as_u16(),
        503,
        "two unread bodies hold both slots"
    );
    drop(first);
    let fourth = public.clone().oneshot(req()).await.expect("answer");
    assert_eq!(
        fourth.status().as_u16(),
        200,
        "a dropped body frees its slot"
    );
    drop(second);
}

#[tokio::test]
async fn health_is_per_role_and_public_counts_know_only_public_features() {
    // A layer with hidden features, and a broken internal layer.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(
        root.join("data/sites.csv"),
        "名称,状態,緯度,経度\n公開の施設,公開,34.8659,138.3181\n検討中の施設,非公開,34.9500,138.4000\n公開の倉庫,公開,34.8600,138.3100\n",
    )
    .expect("csv");
    std::fs::write(
        root.join("layers/sites.toml"),
        "title = { ja = \"施設\", en = \"Sites\" }\ncategory = \"shisetsu\"\ngeometry = \"point\"\naccess = { view = \"public\" }\npublic_filter = { field = \"status\", equals = [\"公開\"] }\n[[source]]\npath = \"data/sites.csv\"\n[[field]]\nsource = \"名称\"\nname = \"name\"\n[[field]]\nsource = \"状態\"\nname = \"status\"\nvalues = { \"公開\" = { ja = \"公開\", en = \"Published\" }, \"非公開\" = { ja = \"非公開（検討中）\", en = \"Unpublished\" } }\n",
    )
    .expect("toml");
    std::fs::write(
        root.join("layers/secret.toml"),
        "title = { ja = \"内部\", en = \"Internal\" }\ncategory = \"bousai\"\ngeometry = \"point\"\naccess = { view = \"internal\", roles = [\"kiki-kanri\"] }\n[[source]]\npath = \"data/missing.csv\"\n",
    )
    .expect("toml");
    let loaded = chizu::load_root(root, 1);
    let app = chizu::http::AppState::new(loaded.catalog, chizu::http::HttpSettings::default());
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let h = get(&public, "/health", &[]).await.json();
    assert_eq!(
        h["failed_count"], 0,
        "an internal failure is not the public's business: {h}"
    );
    assert_eq!(h["layers"][0]["features"], 2, "{h}");
    let m = String::from_utf8(get(&public, "/metrics", &[]).await.body).expect("text");
    assert!(m.contains("chizu_layer_features{layer=\"sites\"} 2"), "{m}");
    assert!(m.contains("chizu_layers_failed 0"), "{m}");
    assert!(!m.contains("view=\"internal\""), "{m}");
    let c = get(&public, "/catalog", &[]).await.json();
    let bounds = c["layers"][0]["bounds"].as_array().expect("bounds").clone();
    assert!(
        bounds[2].as_f64() < Some(138.35),
        "the hidden site does not widen the bounds: {bounds:?}"
    );
    let text = c.to_string();
    assert!(
        !text.contains("非公開") && !text.contains("Unpublished"),
        "no label of the hidden class: {text}"
    );
    let items = get(&public, "/collections/sites/items", &[]).await.json();
    let ids: Vec<u64> = items["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    let raw: Vec<u64> = app
        .catalog
        .load()
        .get("sites")
        .expect("layer")
        .features
        .iter()
        .map(|f| f.id)
        .collect();
    assert!(
        ids.iter().all(|i| !raw.contains(i)),
        "public ids are not the stored ones: {ids:?} vs {raw:?}"
    );
    let one = get(
        &public,
        &format!("/collections/sites/items/{}", ids[0]),
        &[],
    )
    .await;
    assert_eq!(one.status, 200, "a public id finds its feature");
    for r in raw {
        assert_eq!(
            get(&public, &format!("/collections/sites/items/{r}"), &[])
                .await
                .status,
            404
        );
    }
    // Staff: a kiki-kanri key hears of its failed layer only through admin; other roles not at all.
    let (internal, staff) = internal_router_with(Arc::clone(&app));
    let admin = get(
        &internal,
        "/health",
        &[("authorization", &bearer(&staff.admin))],
    )
    .await
    .json();
    assert!(admin["failed"].to_string().contains("secret"), "{admin}");
    let toshi = get(
        &internal,
        "/health",
        &[("authorization", &bearer(&staff.toshi))],
    )
    .await
    .json();
    assert!(
        !toshi.to_string().contains("secret") && !toshi.to_string().contains("missing.csv"),
        "{toshi}"
    );
    let internal_tile = get(
        &internal,
        "/catalog",
        &[("authorization", &bearer(&staff.toshi))],
    )
    .await;
    assert_eq!(
        internal_tile.header("cache-control"),
        Some("private, no-cache")
    );
}

#[tokio::test]
async fn the_internal_listener_refuses_to_serve_when_its_audit_cannot_be_written() {
    let app = crate::common::state();
    let keys = tempfile::tempdir().expect("tempdir");
    let kf = keys.path().join("keys.toml");
    let key = chizu::access::keys::add(&kf, "ops", &["admin".into()]).expect("key");
    let gate = Arc::new(chizu::http::InternalGate {
        keys: chizu::access::keys::KeyRing::open(&kf).expect("ring"),
        audit: chizu::http::AuditLog::file(Path::new("/dev/full")).expect("open /dev/full"),
    });
    let internal = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Internal(gate));
    let r = get(
        &internal,
        "/collections",
        &[("authorization", &bearer(&key))],
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(
        !String::from_utf8_lossy(&r.body).contains("collections\""),
        "nothing served"
    );
    // And what the limits refuse is audited (a path over 2 KiB).
    let audit = keys.path().join("audit.log");
    let gate = Arc::new(chizu::http::InternalGate {
        keys: chizu::access::keys::KeyRing::open(&kf).expect("ring"),
        audit: chizu::http::AuditLog::file(&audit).expect("audit"),
    });
    let internal = chizu::http::router(app, chizu::http::Listener::Internal(gate));
    let long = format!("/tiles/{}", "a".repeat(3000));
    assert_eq!(
        get(&internal, &long, &[("authorization", &bearer(&key))])
            .await
            .status,
        414
    );
    let lines = std::fs::read_to_string(&audit).expect("audit");
    assert!(
        lines.contains("\"status\":414") && lines.contains("\"key\":\"ops\""),
        "{lines}"
    );
}

/// `chizu serve` on free ports with extra flags; returns the process and both addresses.
fn serve(args: &[&str]) -> (std::process::Child, String, String, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .args(["serve", "--root"])
        .arg(crate::common::root())
        .args([
            "--public",
            "127.0.0.1:0",
            "--internal",
            "127.0.0.1:0",
            "--demo-key",
        ])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        let (mut p, mut i, mut k) = (None, None, None);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(a) = line.split("on http://").nth(1) {
                if line.contains("public view") {
                    p = Some(a.trim().to_string());
                } else if line.contains("internal view") {
                    i = Some(a.trim().to_string());
                }
            }
            if let Some(key) = line.trim().strip_prefix("Authorization: Bearer ") {
                k = Some(key.to_string());
            }
            if let (Some(p), Some(i), Some(k)) = (&p, &i, &k) {
                let _ = tx.send((p.clone(), i.clone(), k.clone()));
            }
        }
    });
    let (p, i, k) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("addresses logged");
    (child, p, i, k)
}

/// Whether the server closed the connection within `within`.
fn closed_within(mut s: std::net::TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_and_idle_connections_are_closed_and_a_full_public_listener_leaves_staff_reachable() {
    let (mut child, public, internal, key) = serve(&[
        "--header-timeout",
        "1",
        "--idle-timeout",
        "2",
        "--max-connections",
        "5",
    ]);
    // Slowloris: headers that never end.
    let mut slow = std::net::TcpStream::connect(&public).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: ")
        .expect("write");
    assert!(
        closed_within(slow, Duration::from_secs(5)),
        "header timeout"
    );
    // An idle keep-alive connection after one answer.
    let mut idle = std::net::TcpStream::connect(&public).expect("connect");
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert!(closed_within(idle, Duration::from_secs(6)), "idle timeout");
    // A connection that keeps making progress outlives the idle timeout: a request every
    // 0.6 s for 3.6 s (the deadline is moved on lazily, when it fires), then it goes idle.
    let mut busy = std::net::TcpStream::connect(&public).expect("connect");
    busy.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let opened = std::time::Instant::now();
    for i in 0..6 {
        busy.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap_or_else(|e| panic!("request {i} after {:?}: {e}", opened.elapsed()));
        let mut buf = [0u8; 4096];
        let n = busy.read(&mut buf).expect("answer");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "request {i} after {:?}: {}",
            opened.elapsed(),
            String::from_utf8_lossy(&buf[..n])
        );
        std::thread::sleep(Duration::from_millis(600));
    }
    assert!(opened.elapsed() > Duration::from_secs(3));
    assert!(
        closed_within(busy, Duration::from_secs(6)),
        "idle after use"
    );
    // Five idle connections fill the public listener; the internal one still answers.
    let held: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(&public).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let staff = crate::common::http_get(&internal, "/health/live", Some(&key));
    assert!(staff.contains("200 OK"), "{staff}");
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}
