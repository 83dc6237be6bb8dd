//! Hot reload, broken files, graceful shutdown: good data is never lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::{bearer, get, internal_router_with, root};

/// A small root: the shelters CSV and the landslide warning zones, copied to a temp dir.
pub fn small_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = dir.path().to_path_buf();
    for (layer, data) in [
        ("hinanjo", "避難所一覧"),
        ("dosha_keikai", "土砂災害警戒区域"),
    ] {
        std::fs::create_dir_all(r.join("layers")).expect("mkdir");
        std::fs::copy(
            root().join(format!("layers/{layer}.toml")),
            r.join(format!("layers/{layer}.toml")),
        )
        .expect("copy toml");
        let to = r.join("data/yaizu").join(data);
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in std::fs::read_dir(root().join("data/yaizu").join(data)).expect("read") {
            let f = f.expect("entry").path();
            std::fs::copy(&f, to.join(f.file_name().expect("name"))).expect("copy");
        }
    }
    (dir, r)
}

pub fn app_for(r: &Path) -> Arc<chizu::http::AppState> {
    let loaded = chizu::load_root(r, 2);
    let settings = chizu::http::HttpSettings {
        root: Some(r.to_path_buf()),
        web_root: root().join("web"),
        ..Default::default()
    };
    chizu::http::AppState::new(loaded.catalog, settings)
}

fn edit_title(r: &Path, from: &str, to: &str) {
    let p = r.join("layers/hinanjo.toml");
    let t = std::fs::read_to_string(&p).expect("read").replace(from, to);
    std::fs::write(&p, t).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_an_edited_layer_while_requests_run() {
    let (_dir, r) = small_root();
    let app = app_for(&r);
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let (t, _) = crate::common::tile_of(138.321_485_6, 34.861_450_68, 14);
    let tile = format!("/tiles/hinanjo/{}/{}/{}.mvt", t.z(), t.x(), t.y());
    let hammer = {
        let public = public.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..300 {
                let uri = if i % 2 == 0 {
                    tile.as_str()
                } else {
                    "/catalog"
                };
                statuses.push(get(&public, uri, &[]).await.status.as_u16());
            }
            statuses
        })
    };
    edit_title(&r, "ja = \"指定避難所\"", "ja = \"指定避難所（更新）\"");
    let reload_app = Arc::clone(&app);
    let summary = tokio::task::spawn_blocking(move || reload_app.reload())
        .await
        .expect("join")
        .expect("reload on");
    assert_eq!(
        summary.reloaded,
        vec!["hinanjo".to_string()],
        "only the edited layer is re-ingested"
    );
    assert_eq!(summary.unchanged, 1);
    let statuses = hammer.await.expect("join");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "no failed request during the reload: {statuses:?}"
    );
    let c = get(&public, "/catalog", &[]).await.json();
    let h = c["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "hinanjo")
        .expect("hinanjo")
        .clone();
    assert_eq!(h["title"]["ja"], "指定避難所（更新）");
    let m = String::from_utf8(get(&public, "/metrics", &[]).await.body).expect("utf-8");
    assert!(
        m.contains("chizu_layer_version{layer=\"hinanjo\"} 2"),
        "{m}"
    );
    assert!(m.contains("chizu_reloads_total 1"));
}

#[tokio::test]
async fn a_truncated_dbf_keeps_the_old_data_serving() {
    let (_dir, r) = small_root();
    let app = app_for(&r);
    let dbf = r.join("data/yaizu/土砂災害警戒区域/土砂災害警戒区域.dbf");
    let bytes = std::fs::read(&dbf).expect("dbf");
    std::fs::write(&dbf, &bytes[..200]).expect("truncate");
    let reload_app = Arc::clone(&app);
    let summary = tokio::task::spawn_blocking(move || reload_app.reload())
        .await
        .expect("join")
        .expect("reload on");
    assert!(
        summary.failed.iter().any(|(id, _)| id == "dosha_keikai"),
        "{summary:?}"
    );
    let catalog = app.catalog.load();
    let layer = catalog.get("dosha_keikai").expect("still served");
    assert_eq!(
        (layer.features.len(), layer.version),
        (102, 1),
        "the previous snapshot keeps serving"
    );

    let (internal, staff) = internal_router_with(Arc::clone(&app));
    let h = get(
        &internal,
        "/health",
        &[("authorization", &bearer(&staff.admin))],
    )
    .await
    .json();
    assert_eq!(h["status"], "degraded");
    let l = h["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "dosha_keikai")
        .expect("layer")
        .clone();
    assert_eq!(l["state"], "stale");
    let reason = l["reason"].as_str().expect("reason");
    assert!(
        reason.contains("serving version 1") && reason.contains("土砂災害警戒区域"),
        "{reason}"
    );
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    assert_eq!(
        get(&public, "/collections/dosha_keikai/items?limit=1", &[])
            .await
            .json()["numberMatched"],
        102
    );

    // Fixing the file brings the layer back to ready with a new version.
    std::fs::write(&dbf, &bytes).expect("restore");
    let reload_app = Arc::clone(&app);
    let s = tokio::task::spawn_blocking(move || reload_app.reload())
        .await
        .expect("join")
        .expect("reload on");
    assert_eq!(s.reloaded, vec!["dosha_keikai".to_string()]);
    assert_eq!(
        app.catalog
            .load()
            .get("dosha_keikai")
            .expect("layer")
            .version,
        2
    );
}

#[tokio::test]
async fn a_broken_file_at_start_leaves_the_rest_serving() {
    let (_dir, r) = small_root();
    let dbf = r.join("data/yaizu/土砂災害警戒区域/土砂災害警戒区域.dbf");
    let bytes = std::fs::read(&dbf).expect("dbf");
    std::fs::write(&dbf, &bytes[..200]).expect("truncate");
    let app = app_for(&r);
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let h = get(&public, "/health", &[]).await.json();
    assert_eq!(
        (h["status"].as_str(), h["failed_count"].as_u64()),
        (Some("degraded"), Some(1))
    );
    assert_eq!(
        get(&public, "/collections/hinanjo/items?limit=1", &[])
            .await
            .json()["numberMatched"],
        56
    );
    assert_eq!(
        get(&public, "/collections/dosha_keikai", &[]).await.status,
        404
    );
}

/// The real binary: the file watcher reloads an edited layer, SIGHUP reloads, and SIGTERM
/// lets a request in flight finish before the process exits.
#[test]
fn serve_watches_files_reloads_on_sighup_and_drains_on_sigterm() {
    use std::io::{Read, Write};
    let (_dir, r) = small_root();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .args([
            "serve",
            "--public",
            "127.0.0.1:0",
            "--internal",
            "127.0.0.1:0",
            "--audit-log",
        ])
        .arg(r.join("audit.log"))
        .arg("--root")
        .arg(&r)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let addr = crate::common::listener_address(&mut child, "public view");
    let title_is = |t: &str| crate::common::http_get(&addr, "/catalog", None).contains(t);
    let wait_for = |t: &str| {
        let start = std::time::Instant::now();
        while !title_is(t) {
            assert!(start.elapsed().as_secs() < 20, "no reload to `{t}`");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };

    edit_title(&r, "ja = \"指定避難所\"", "ja = \"指定避難所（監視）\"");
    wait_for("指定避難所（監視）");

    // SIGHUP after an edit made while… the watcher also sees it; either way it must land.
    edit_title(&r, "（監視）", "（HUP）");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    wait_for("指定避難所（HUP）");

    // A download in flight when SIGTERM arrives still completes.
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET /download/dosha_keikai.geojson HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut first = [0u8; 64];
    let n = s.read(&mut first).expect("first bytes");
    assert!(n > 0);
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("rest of the response");
    let whole = String::from_utf8_lossy(&rest);
    assert!(
        whole.trim_end().ends_with("]}") || whole.contains("]}"),
        "the body finished: …{}",
        &whole[whole.len().saturating_sub(80)..]
    );
    let status = child.wait().expect("exit");
    assert!(status.success(), "graceful exit: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_route_is_for_admins_on_the_internal_listener_only() {
    use axum::body::Body;
    use tower::ServiceExt;
    let (_dir, r) = small_root();
    let app = app_for(&r);
    let (internal, staff) = internal_router_with(Arc::clone(&app));
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let post = |router: axum::Router, key: Option<String>| async move {
        let mut b = axum::http::Request::post("/admin/reload").header("host", "x");
        if let Some(k) = key {
            b = b.header("authorization", bearer(&k));
        }
        router
            .oneshot(b.body(Body::empty()).expect("req"))
            .await
            .expect("resp")
            .status()
            .as_u16()
    };
    assert_eq!(post(public.clone(), Some(staff.admin.clone())).await, 404);
    assert_eq!(post(internal.clone(), None).await, 401);
    assert_eq!(post(internal.clone(), Some(staff.doro.clone())).await, 404);
    edit_title(&r, "ja = \"指定避難所\"", "ja = \"指定避難所（管理）\"");
    assert_eq!(post(internal.clone(), Some(staff.admin.clone())).await, 200);
    assert_eq!(
        app.catalog
            .load()
            .get("hinanjo")
            .expect("layer")
            .def
            .title
            .ja,
        "指定避難所（管理）"
    );
}

/// The viewer page is made once per catalog and file version, not per request: the same
/// ETag while nothing changes, a new one after a reload or an edited override file.
#[tokio::test]
async fn the_page_is_remade_only_when_the_catalog_or_a_file_changes() {
    let (_dir, r) = small_root();
    let loaded = chizu::load_root(&r, 2);
    let settings = chizu::http::HttpSettings {
        root: Some(r.clone()),
        web_root: r.join("web"),
        ..Default::default()
    };
    let app = chizu::http::AppState::new(loaded.catalog, settings);
    let public = chizu::http::router(Arc::clone(&app), chizu::http::Listener::Public);
    let gz = [("accept-encoding", "gzip")];
    let page = |public: axum::Router| async move {
        let r = get(&public, "/", &gz).await;
        assert_eq!(r.status, 200);
        let etag = r.header("etag").expect("etag").to_string();
        (etag, String::from_utf8(r.decoded()).expect("utf-8"))
    };
    let (first, text) = page(public.clone()).await;
    assert!(text.contains("指定避難所"), "the page carries the catalog");
    let (again, _) = page(public.clone()).await;
    assert_eq!(first, again, "nothing changed: the same page");

    edit_title(&r, "ja = \"指定避難所\"", "ja = \"指定避難所（更新）\"");
    let reload_app = Arc::clone(&app);
    tokio::task::spawn_blocking(move || reload_app.reload())
        .await
        .expect("join")
        .expect("reload");
    let (reloaded, text) = page(public.clone()).await;
    assert_ne!(first, reloaded, "a new catalog makes a new page");
    assert!(text.contains("指定避難所（更新）"), "with the new title");

    // A root's own stylesheet: linked by its version, and again when it is edited.
    std::fs::create_dir_all(r.join("web")).expect("mkdir");
    std::fs::write(r.join("web/app.css"), "body { color: #111; }").expect("write");
    let (_, text) = page(public.clone()).await;
    let css = get(&public, "/web/app.css", &[]).await;
    assert_eq!(
        String::from_utf8(css.decoded()).expect("utf-8"),
        "body { color: #111; }"
    );
    let link = |t: &str| {
        let at = t.find("/web/app.css?v=").expect("versioned link");
        t[at..at + 27].to_string()
    };
    let before = link(&text);
    std::fs::write(r.join("web/app.css"), "body { color: #222222; }").expect("write");
    let (_, text) = page(public.clone()).await;
    assert_ne!(before, link(&text), "an edited override gets a new version");
    let css = get(&public, "/web/app.css", &[]).await;
    assert_eq!(
        String::from_utf8(css.decoded()).expect("utf-8"),
        "body { color: #222222; }"
    );
}
