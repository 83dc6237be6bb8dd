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
fn serve_logs_its_address_and_answers() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = chizu()
        .args(["serve", "--public", "127.0.0.1:0", "--root"])
        .arg(common::root())
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let stderr = child.stderr.take().expect("stderr");
    let mut addr = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(rest) = line.split("on http://").nth(1) {
            addr = Some(rest.trim().to_string());
            break;
        }
    }
    let addr = addr.expect("serve logs the chosen address");
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");
}
