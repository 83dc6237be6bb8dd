//! `chizu export`: PMTiles read back by an independent reader (npm `pmtiles` +
//! @mapbox/vector-tile, every tile decoded), MBTiles by SQL and GDAL, rows in TMS order.

use std::io::Read as _;

use gdal::vector::LayerAccess;

use crate::common::{decode, get, public_router, root};

fn chizu_export(out: &std::path::Path, extra: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .arg("export")
        .arg(out)
        .args(["--root"])
        .arg(root())
        .args(extra)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn pmtiles_export_reads_back_in_an_independent_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("yaizu.pmtiles");
    let summary = chizu_export(
        &out,
        &[
            "--layers",
            "hinanjo,dosha_keikai,youto_chiiki",
            "--minzoom",
            "8",
            "--maxzoom",
            "14",
        ],
    );
    let written: usize = summary
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("count in summary");
    assert!(summary.contains("largest tile"), "{summary}");
    let node = std::process::Command::new("node")
        .arg(root().join("tests/support/read-pmtiles.mjs"))
        .arg(&out)
        .current_dir(root())
        .output()
        .expect("node runs (scripts/install-web.sh installs the reader)");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&node.stdout).expect("json");
    assert_eq!(j["specVersion"], 3);
    assert_eq!(j["tileType"], 1, "MVT");
    assert_eq!(
        (j["minZoom"].as_u64(), j["maxZoom"].as_u64()),
        (Some(8), Some(14))
    );
    assert_eq!(
        j["tiles"].as_u64(),
        Some(written as u64),
        "every written tile found and decoded"
    );
    assert!(j["features"].as_u64().is_some_and(|f| f > 1000));
    assert_eq!(
        j["layers"],
        serde_json::json!(["dosha_keikai", "hinanjo", "youto_chiiki"])
    );
    assert_eq!(
        j["vector_layers"],
        serde_json::json!(["hinanjo", "dosha_keikai", "youto_chiiki"])
    );
}

#[tokio::test]
async fn mbtiles_rows_are_tms_and_match_the_served_tiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("yaizu.mbtiles");
    chizu_export(
        &out,
        &["--layers", "hinanjo", "--minzoom", "10", "--maxzoom", "13"],
    );
    let db = rusqlite::Connection::open(&out).expect("sqlite");
    let format: String = db
        .query_row(
            "SELECT value FROM metadata WHERE name = 'format'",
            [],
            |r| r.get(0),
        )
        .expect("format");
    assert_eq!(format, "pbf");
    let json: String = db
        .query_row("SELECT value FROM metadata WHERE name = 'json'", [], |r| {
            r.get(0)
        })
        .expect("json");
    assert!(json.contains("\"hinanjo\""));
    let mut stmt = db
        .prepare("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        .expect("query");
    let rows: Vec<(u8, u32, u32, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() >= 4);
    let app = public_router();
    for (z, x, row, gz) in rows {
        let y = (1u32 << z) - 1 - row;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .expect("gzip");
        let served = get(&app, &format!("/tiles/hinanjo/{z}/{x}/{y}.mvt"), &[]).await;
        assert_eq!(served.status, 200, "row {row} of z{z} is XYZ y {y}");
        assert_eq!(decode(&raw).len(), decode(&served.body).len());
        assert_eq!(
            raw, served.body,
            "the export holds what the public listener serves at {z}/{x}/{y}"
        );
    }
    let ds = gdal::Dataset::open(&out).expect("GDAL opens the MBTiles");
    assert!(ds.layers().any(|l| l.name() == "hinanjo"));
}

#[test]
fn export_refuses_internal_layers_without_a_key_and_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
            .arg("export")
            .args(args)
            .arg("--root")
            .arg(root())
            .output()
            .expect("runs")
    };
    let o = run(&[
        dir.path().join("a.pmtiles").to_str().expect("path"),
        "--layers",
        "kousaten",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no layer `kousaten` in this view"));
    let o = run(&[
        dir.path().join("a.zip").to_str().expect("path"),
        "--layers",
        "hinanjo",
    ]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains(".pmtiles or .mbtiles")
    );
    let o = run(&[
        dir.path().join("a.pmtiles").to_str().expect("path"),
        "--minzoom",
        "9",
        "--maxzoom",
        "3",
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("minzoom"));
    // The archive is written aside and moved into place whole: an export that cannot be
    // put in place leaves what was there and no partial file; one that succeeds replaces
    // the old file and leaves nothing else behind.
    let taken = dir.path().join("taken.pmtiles");
    std::fs::create_dir(&taken).expect("mkdir");
    std::fs::write(taken.join("keep.txt"), "x").expect("write");
    let o = run(&[taken.to_str().expect("path"), "--layers", "hinanjo"]);
    assert!(!o.status.success(), "a directory is not replaced");
    assert!(taken.join("keep.txt").exists());
    let old = dir.path().join("old.pmtiles");
    std::fs::write(&old, "an older export").expect("write");
    let o = run(&[old.to_str().expect("path"), "--layers", "hinanjo"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&old).expect("read").starts_with(b"PMTiles"));
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["old.pmtiles", "taken.pmtiles"],
        "no partial file left"
    );
}

#[test]
fn internal_view_export_needs_a_key_and_holds_its_roles_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.toml");
    let chizu = || std::process::Command::new(env!("CARGO_BIN_EXE_chizu"));
    let added = chizu()
        .args(["keys", "add", "doro", "--role", "doro-kanri", "--keys"])
        .arg(&keys)
        .output()
        .expect("runs");
    assert!(added.status.success());
    let key = String::from_utf8_lossy(&added.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("chizu_"))
        .expect("key printed")
        .to_string();
    let out = dir.path().join("staff.mbtiles");
    let export = |extra: &[&str]| {
        chizu()
            .arg("export")
            .arg(&out)
            .arg("--root")
            .arg(root())
            .arg("--keys")
            .arg(&keys)
            .args(["--layers", "kousaten", "--minzoom", "14", "--maxzoom", "14"])
            .args(extra)
            .output()
            .expect("runs")
    };
    let o = export(&["--view", "internal"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--view internal needs --key"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = export(&["--key", &key]);
    assert!(
        !o.status.success(),
        "a key without --view internal is refused"
    );
    let o = export(&["--view", "internal", "--key", &key]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = rusqlite::Connection::open(&out).expect("open");
    let n: i64 = db
        .query_row("SELECT count(*) FROM tiles", [], |r| r.get(0))
        .expect("count");
    assert!(n > 0, "the doro-kanri key sees the intersection ledger");
}

/// An export killed part-way (power cut, OOM killer, Ctrl-C) leaves the previous archive
/// at the output path as it was: the new one is written to a hidden `.partial` file
/// beside it and renamed into place only when complete.
#[test]
fn an_export_killed_part_way_leaves_the_previous_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("city.pmtiles");
    std::fs::write(&out, "the previous export").expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .arg("export")
        .arg(&out)
        .args(["--maxzoom", "16", "--threads", "1", "--root"])
        .arg(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let partial = dir.path().join(".city.pmtiles.partial");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !partial.exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the export ended without writing aside"
        );
        assert!(std::time::Instant::now() < deadline, "no partial file");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(
        std::fs::read_to_string(&out).expect("read"),
        "the previous export"
    );
}
