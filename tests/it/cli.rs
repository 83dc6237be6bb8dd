//! The `chizu` binary: check, inspect, serve — run as a user would.

use std::process::Command;

use crate::common;

fn chizu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chizu"))
}

#[test]
fn check_reports_every_sample_layer() {
    let out = chizu()
        .args(["check", "--root"])
        .arg(common::root())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("✔ youto_chiiki"), "{text}");
    assert!(text.contains("EPSG:2450"), "detected CRS shown: {text}");
    assert!(
        text.contains("CP932 (.cpg says \"Shift_JIS\")"),
        "encoding and why: {text}"
    );
    assert!(text.contains("repaired"), "{text}");
    assert!(text.contains("0 failed"), "{text}");
    // A live layer is described as such, not warned about for having no features yet.
    let live = text
        .split("✔ saigai_houkoku")
        .nth(1)
        .and_then(|t| t.split("\n✔").next())
        .unwrap_or_default();
    assert!(
        live.contains("live: features kept in the state database"),
        "{live}"
    );
    assert!(live.contains("residents' reports"), "{live}");
    assert!(!live.contains("no features"), "{live}");
}

#[test]
fn check_names_file_and_key_of_a_bad_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("layers")).expect("mkdir");
    std::fs::write(
        dir.path().join("layers/broken.toml"),
        "title = { ja = \"壊れた\", en = \"Broken\" }\ncategory = \"bousai\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\nminzom = 3\n[[source]]\npath = \"x.shp\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("layers/missing.toml"),
        "title = { ja = \"無い\", en = \"Missing\" }\ncategory = \"bousai\"\ngeometry = \"point\"\naccess = { view = \"public\" }\n[[source]]\npath = \"data/none.csv\"\n",
    )
    .expect("write");
    let out = chizu()
        .args(["check", "--root"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("broken.toml") && text.contains("minzom"),
        "{text}"
    );
    assert!(
        text.contains("missing.toml") && text.contains("data/none.csv"),
        "{text}"
    );
    assert!(text.contains("0 layers loaded, 2 failed"), "{text}");
}

#[test]
fn check_without_layers_folder_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = chizu()
        .args(["check", "--root"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `layers/` folder"));
}

#[test]
fn inspect_shows_encoding_crs_and_a_starting_toml() {
    let file = common::data("土砂災害警戒区域/土砂災害警戒区域.shp");
    let out = chizu()
        .arg("inspect")
        .arg(&file)
        .arg("--root")
        .arg(common::root())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("encoding: CP932"), "{text}");
    assert!(
        text.contains("JGD2011 / Japan Plane Rectangular CS VIII"),
        "{text}"
    );
    assert!(text.contains("KASHO_NO"), "{text}");
    assert!(
        text.contains("[[source]]")
            && text.contains("path = \"data/yaizu/土砂災害警戒区域/土砂災害警戒区域.shp\""),
        "{text}"
    );
    assert!(text.contains("extent (lon/lat): 138."), "{text}");
}

#[test]
fn inspect_reads_csv_points_and_json() {
    let file = common::data("避難所一覧/222127_hinannjo.csv");
    let out = chizu()
        .arg("inspect")
        .arg(&file)
        .arg("--json")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["driver"], "CSV");
    assert_eq!(j["layers"][0]["features"], 56);
    assert!(j["layers"][0]["geometry"]
        .as_str()
        .is_some_and(|g| g.contains("Point")));
}

#[test]
fn inspect_of_a_missing_file_is_a_clear_error() {
    let out = chizu()
        .args(["inspect", "no/such/file.shp"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/file.shp"), "{err}");
}

#[test]
fn serve_refuses_a_precut_zoom_above_16() {
    let out = chizu()
        .args(["serve", "--precut-zoom", "17", "--root"])
        .arg(common::root())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--precut-zoom") && err.contains("0..=16"),
        "{err}"
    );
}

#[test]
fn serve_runs_both_listeners_with_a_demo_key() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.log");
    let mut child = chizu()
        .args([
            "serve",
            "--public",
            "127.0.0.1:0",
            "--internal",
            "127.0.0.1:0",
            "--demo-key",
            "--root",
        ])
        .arg(common::root())
        .arg("--keys")
        .arg(dir.path().join("keys.toml"))
        .arg("--audit-log")
        .arg(&audit)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let stderr = child.stderr.take().expect("stderr");
    let (mut public, mut internal, mut key) = (None, None, None);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    for line in lines.by_ref() {
        let addr = || {
            line.split("on http://")
                .nth(1)
                .map(|a| a.trim().to_string())
        };
        if line.contains("public view") {
            public = addr();
        } else if line.contains("internal view (") {
            internal = addr();
        } else if let Some(k) = line.split("Authorization: Bearer ").nth(1) {
            key = Some(k.trim().to_string());
        }
        if public.is_some() && internal.is_some() && key.is_some() {
            break;
        }
    }
    let (public, internal, key) = (
        public.expect("public address"),
        internal.expect("internal address"),
        key.expect("demo key"),
    );
    let health = common::http_get(&public, "/health", None);
    let refused = common::http_get(&internal, "/catalog", None);
    let staff = common::http_get(&internal, "/catalog", Some(&key));
    let public_catalog = common::http_get(&public, "/catalog", Some(&key));
    // By default the public map's tiles up to z13 are cut ahead once the server is quiet.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            if line.contains("pre-cut the public map's tiles up to z13") {
                let _ = tx.send(line);
            }
        }
    });
    let precut = rx
        .recv_timeout(std::time::Duration::from_secs(180))
        .expect("the pre-cut pass is logged");
    let metrics = common::http_get(&internal, "/metrics", Some(&key));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"status\":\"ok\""),
        "{health}"
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(
        staff.starts_with("HTTP/1.1 200") && staff.contains("kousaten"),
        "{staff}"
    );
    assert!(
        !public_catalog.contains("kousaten"),
        "the public listener ignores keys"
    );
    let cut: u64 = precut
        .split("tiles=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("tiles=N in the log line");
    assert!(cut > 0, "{precut}");
    assert!(
        metrics.contains(&format!("chizu_tiles_precut_total {cut}")),
        "{precut}\n{metrics}"
    );
    let log = std::fs::read_to_string(&audit).expect("audit log written");
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(log.contains("\"key\":\"demo\""), "{log}");
}

#[test]
fn keys_add_list_revoke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        chizu()
            .args(args)
            .arg("--root")
            .arg(dir.path())
            .output()
            .expect("runs")
    };
    let out = run(&[
        "keys",
        "add",
        "tanaka",
        "--role",
        "doro-kanri",
        "--role",
        "kiki-kanri",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("chizu_") && key.len() == 70, "{key}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("only time the key is shown"));
    let file = std::fs::read_to_string(dir.path().join("keys.toml")).expect("keys file");
    assert!(file.contains("tanaka") && !file.contains(&key[6..]));

    let list = run(&["keys", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("tanaka") && text.contains("doro-kanri, kiki-kanri"),
        "{text}"
    );
    assert!(!text.contains(&key[6..]), "list never shows keys");

    let dup = run(&["keys", "add", "tanaka", "--role", "admin"]);
    assert!(
        !dup.status.success() && String::from_utf8_lossy(&dup.stderr).contains("already exists")
    );
    let bad = run(&["keys", "add", "Tanaka San", "--role", "admin"]);
    assert!(
        !bad.status.success()
            && String::from_utf8_lossy(&bad.stderr).contains("not a valid key name")
    );

    assert!(run(&["keys", "revoke", "tanaka"]).status.success());
    let again = run(&["keys", "revoke", "tanaka"]);
    assert!(
        !again.status.success()
            && String::from_utf8_lossy(&again.stderr).contains("no key named `tanaka`")
    );
    assert!(String::from_utf8_lossy(&run(&["keys", "list"]).stdout).contains("no keys"));
}

/// A root holding one real layer file, edited, with the sample's data linked in.
pub fn root_with_edited_layer(id: &str, prepend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("layers")).expect("mkdir");
    std::os::unix::fs::symlink(common::root().join("data"), dir.path().join("data"))
        .expect("link data");
    let toml = std::fs::read_to_string(common::root().join(format!("layers/{id}.toml")))
        .expect("sample layer");
    std::fs::write(
        dir.path().join(format!("layers/{id}.toml")),
        format!("{prepend}\n{toml}"),
    )
    .expect("write");
    dir
}

#[test]
fn check_says_where_a_layer_hits_its_tile_budget() {
    // The flood layer's z12 tile is ~340 KB: a 20 KB budget must be reported, by zoom.
    let dir = root_with_edited_layer("kouzui_shinsui", "max_tile_bytes = 20000");
    let out = chizu()
        .args(["check", "--root"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a budget hit is a warning: {text}");
    let line = text
        .lines()
        .find(|l| l.contains("tile budget"))
        .unwrap_or_else(|| panic!("no budget line: {text}"));
    assert!(
        line.contains("warning") && line.contains("20000 bytes") && line.contains("z12"),
        "{line}"
    );
    assert!(line.contains("features dropped"), "{line}");

    // Within budget, the largest tile is named instead, and JSON carries the same scan.
    let out = chizu()
        .args(["check", "--json", "--root"])
        .arg(common::root())
        .output()
        .expect("runs");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let flood = j["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["id"] == "kouzui_shinsui")
        .expect("flood layer");
    assert_eq!(flood["tile_budget"]["max_bytes"], 500_000);
    assert_eq!(flood["tile_budget"]["scan"]["trimmed_tiles"], 0);
    assert!(flood["tile_budget"]["scan"]["largest"][1].as_u64() > Some(100_000));
}
