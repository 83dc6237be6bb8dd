//! Live layers kept in PostgreSQL/PostGIS (`--database`): several `chizu serve` processes
//! share them. Against a real PostgreSQL + PostGIS: `scripts/test.sh` starts a throw-away
//! cluster on 127.0.0.1 (`scripts/pg-temp.sh`) and names it in `CHIZU_TEST_DATABASE`.

use std::time::{Duration, Instant};

use crate::common;
use crate::live::{http, point, post_point, Server, LAYER};

/// The application's role: not a superuser, so connection limits and missing rights
/// apply to it as they would in a city's database.
const ROLE: &str = "chizu_app";

fn admin() -> postgres::Client {
    let url = std::env::var("CHIZU_TEST_DATABASE").expect(
        "the PostgreSQL tests need CHIZU_TEST_DATABASE: run scripts/test.sh, which starts a \
         throw-away cluster with scripts/pg-temp.sh",
    );
    postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test cluster")
}

/// A new database for one test, owned by [`ROLE`]; PostGIS added by the superuser (as a
/// city's DBA would) when `postgis`. Returns its name and connection string.
fn database(postgis: bool) -> (String, String) {
    let mut c = admin();
    if let Err(e) = c.batch_execute(&format!("CREATE ROLE {ROLE} LOGIN")) {
        // Tests run in parallel: another one made it first (PostgreSQL says so as
        // "already exists", or as a unique violation when both raced in the catalogue).
        let (code, msg) = e.as_db_error().map_or(
            (postgres::error::SqlState::INTERNAL_ERROR, String::new()),
            |d| (d.code().clone(), d.message().to_string()),
        );
        assert!(
            msg.contains("already exists") || code == postgres::error::SqlState::UNIQUE_VIOLATION,
            "create role: {e:?}"
        );
    }
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).expect("random");
    let name = format!("t_{:016x}", u64::from_le_bytes(r));
    c.batch_execute(&format!("CREATE DATABASE {name} OWNER {ROLE}"))
        .expect("create database");
    let url = std::env::var("CHIZU_TEST_DATABASE").expect("set");
    let cfg: postgres::Config = url.parse().expect("url");
    let host = match &cfg.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = cfg.get_ports()[0];
    if postgis {
        let mut db = postgres::Client::connect(
            &format!("postgres://postgres@{host}:{port}/{name}"),
            postgres::NoTls,
        )
        .expect("connect");
        db.batch_execute("CREATE EXTENSION postgis")
            .expect("PostGIS is installed (postgresql-N-postgis-3)");
    }
    (
        name.clone(),
        format!("postgres://{ROLE}@{host}:{port}/{name}"),
    )
}

/// A root with only the sample's live layer, and a key of its editing role.
fn live_root() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    std::fs::copy(
        common::root().join("layers/saigai_houkoku.toml"),
        root.join("layers/saigai_houkoku.toml"),
    )
    .expect("copy");
    let keys = root.join("keys.toml");
    let key = chizu::access::keys::add(&keys, "kiki", &["kiki-kanri".to_string()]).expect("key");
    (dir, keys, key)
}

/// Polls `f` until it is true or `limit` has passed; how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn tile_status(server: &Server, key: &str, lon: f64, lat: f64) -> u16 {
    let (t, _) = common::tile_of(lon, lat, 14);
    http(
        &server.internal,
        "GET",
        &format!("/tiles/saigai_houkoku/{t}.mvt"),
        key,
        "",
    )
    .expect("tile")
    .0
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Two servers on one database: a write through either is in the other's tiles, items
/// and event stream; a stale edit is refused across servers; a lost notice connection or
/// a lost database connection is recovered without losing a change.
#[test]
fn two_servers_on_one_postgres_serve_each_others_changes() {
    let (_dir, keys, key) = live_root();
    let root = keys.parent().expect("root").to_path_buf();
    let (name, url) = database(true);
    let a = Server::start_on(&root, &keys, &url);
    let b = Server::start_on(&root, &keys, &url);

    // B's event stream, read on a thread, from before the write.
    let events = {
        use std::io::{BufRead, BufReader, Write};
        let mut s = std::net::TcpStream::connect(&b.internal).expect("connect");
        write!(
            s,
            "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n"
        )
        .expect("write");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                if let Some(d) = line.strip_prefix("data: ") {
                    if tx.send(d.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        rx
    };
    std::thread::sleep(Duration::from_millis(300));

    let (lon, lat) = (138.30, 34.86);
    assert_eq!(tile_status(&b, &key, lon, lat), 204, "nothing there yet");
    let (status, body) = http(
        &a.internal,
        "POST",
        LAYER,
        &key,
        &point(lon, lat, r#"{"kind":"冠水","public":true}"#),
    )
    .expect("post");
    assert_eq!(status, 201, "{body}");
    let fid = json(&body)["id"].as_u64().expect("id");
    let seen = within(Duration::from_secs(10), || {
        tile_status(&b, &key, lon, lat) == 200
    });
    let seen = seen.expect("the other server serves the write in its tiles");
    eprintln!("write through A in B's tiles after {seen:?}");
    let change = events
        .recv_timeout(Duration::from_secs(10))
        .expect("B's stream tells of A's write");
    let change = json(&change);
    assert_eq!(change["layer"], "saigai_houkoku", "{change}");
    assert_eq!(change["id"].as_u64(), Some(fid), "{change}");

    // Both editors read version 1; A saves first; B's save is refused with 412 even if B
    // has not heard of A's yet (the database's row decides).
    let patch = |s: &Server, note: &str| {
        http(
            &s.internal,
            "PATCH",
            &format!("{LAYER}/{fid}"),
            &key,
            &format!(r#"{{"type":"Feature","properties":{{"note":"{note}"}}}}"#),
        )
    };
    let if_match = |s: &Server, note: &str| {
        use std::io::{Read, Write};
        let body = format!(r#"{{"type":"Feature","properties":{{"note":"{note}"}}}}"#);
        let mut c = std::net::TcpStream::connect(&s.internal).expect("connect");
        write!(
            c,
            "PATCH {LAYER}/{fid} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nIf-Match: \"1\"\r\nContent-Type: application/geo+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut out = String::new();
        c.read_to_string(&mut out).expect("read");
        out
    };
    let first = if_match(&a, "A の確認");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let second = if_match(&b, "B の確認");
    assert!(second.starts_with("HTTP/1.1 412"), "{second}");
    let (_, history) = http(
        &b.internal,
        "GET",
        &format!("{LAYER}/{fid}/history"),
        &key,
        "",
    )
    .expect("history");
    let outcomes: Vec<String> = json(&history)["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(outcomes.len(), 3, "{history}");
    assert_eq!(outcomes[1], "applied");
    assert!(outcomes[2].starts_with("refused: stale"), "{history}");
    // B serves A's save.
    let note = || {
        let (_, body) =
            http(&b.internal, "GET", &format!("{LAYER}/{fid}"), &key, "").expect("item");
        json(&body)["properties"]["note"].as_str().map(String::from)
    };
    within(Duration::from_secs(10), || {
        note().as_deref() == Some("A の確認")
    })
    .expect("B serves A's save");

    // The notice connections are cut (a database restart, a network blip): what is
    // written meanwhile reaches B once it listens again.
    let mut admin = admin();
    let cut = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            &[&name],
        )
        .expect("terminate");
    assert_eq!(cut, 2, "each server listens on one connection");
    let (status, body) = post_point(&a.internal, &key, 7).expect("post");
    assert_eq!(status, 201, "{body}");
    let late = json(&body)["id"].as_u64().expect("id");
    within(Duration::from_secs(15), || b.ids(&key).contains(&late))
        .expect("B catches up on what was written while it was not listening");

    // Every connection of both servers is cut: the next write connects again.
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .expect("terminate");
    let (status, body) = patch(&b, "再接続").expect("patch");
    assert_eq!(status, 200, "{body}");
    within(Duration::from_secs(15), || {
        let (_, body) =
            http(&a.internal, "GET", &format!("{LAYER}/{fid}"), &key, "").expect("item");
        json(&body)["properties"]["note"] == "再接続"
    })
    .expect("A hears B's write after both reconnect");
}

/// Acknowledged writes survive SIGKILL of the server that took them; a database that
/// will not take a write → 503 with the reason and nothing served that is not stored.
#[test]
fn postgres_keeps_every_acknowledged_write_and_refuses_cleanly_when_unreachable() {
    let (_dir, keys, key) = live_root();
    let root = keys.parent().expect("root").to_path_buf();
    let (name, url) = database(true);
    let mut a = Server::start_on(&root, &keys, &url);
    let b = Server::start_on(&root, &keys, &url);

    let addr = a.internal.clone();
    let writer_key = key.clone();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let writer = std::thread::spawn(move || {
        for n in 0.. {
            match post_point(&addr, &writer_key, n) {
                Ok((201, body)) => {
                    let _ = tx.send(json(&body)["id"].as_u64().expect("id"));
                }
                Ok((s, body)) => panic!("write {n} answered {s}: {body}"),
                Err(_) => break,
            }
        }
    });
    let mut acked: Vec<u64> = (0..60)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).expect("ack"))
        .collect();
    a.kill9();
    writer.join().expect("writer");
    acked.extend(rx.try_iter());

    // The other server has every one (it never stopped), and so has A restarted.
    let all = |s: &Server| {
        let found = s.ids(&key);
        acked.iter().all(|id| found.contains(id))
    };
    within(Duration::from_secs(15), || all(&b)).expect("B serves every acknowledged write");
    let a = Server::start_on(&root, &keys, &url);
    assert!(
        all(&a),
        "A restarted after SIGKILL has every acknowledged write"
    );
    let before = a.ids(&key).len();

    // The database refuses the application's connections: 503, the reason, no change.
    let mut admin = admin();
    admin
        .batch_execute(&format!("ALTER DATABASE {name} CONNECTION LIMIT 0"))
        .expect("limit");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .expect("terminate");
    let (status, body) = post_point(&a.internal, &key, 1).expect("answer");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("cannot connect") && body.contains("nothing was changed"),
        "{body}"
    );
    assert_eq!(a.ids(&key).len(), before, "a refused write is not served");

    // The database back: writes work again, on both.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} CONNECTION LIMIT -1"))
        .expect("limit");
    let (status, body) = post_point(&a.internal, &key, 2).expect("answer");
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["id"].as_u64().expect("id");
    within(Duration::from_secs(20), || b.ids(&key).contains(&id)).expect("B hears it");
}

/// The tables are there for other readers (QGIS, SQL): a PostGIS geometry per feature.
/// A database without PostGIS, where the role may not add it, is refused at start with
/// what to do.
#[test]
fn postgres_tables_are_readable_with_postgis_and_a_database_without_it_is_refused() {
    let (_dir, keys, key) = live_root();
    let root = keys.parent().expect("root").to_path_buf();
    let (name, url) = database(true);
    let a = Server::start_on(&root, &keys, &url);
    let (status, body) = post_point(&a.internal, &key, 3).expect("post");
    assert_eq!(status, 201, "{body}");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let row = db
        .query_one(
            "SELECT ST_AsText(geom), properties->>'kind', version FROM chizu.features WHERE layer = 'saigai_houkoku'",
            &[],
        )
        .expect("row");
    assert!(
        row.get::<_, String>(0).starts_with("POINT(138.253"),
        "{name}"
    );
    assert_eq!(row.get::<_, String>(1), "冠水");
    assert_eq!(row.get::<_, i64>(2), 1);
    drop(a);

    let (_, bare) = database(false);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .args([
            "serve",
            "--public",
            "127.0.0.1:0",
            "--internal",
            "127.0.0.1:0",
            "--root",
        ])
        .arg(&root)
        .arg("--keys")
        .arg(&keys)
        .args(["--database", &bare])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no PostGIS") && err.contains("CREATE EXTENSION postgis"),
        "{err}"
    );
    assert!(
        !err.contains(ROLE) || !err.contains('@'),
        "no credentials in: {err}"
    );
}

/// A sensor layer on PostgreSQL: a reading posted through one server is the station's
/// latest on the other, and both read the same series from the database.
#[test]
fn a_reading_posted_to_one_server_is_served_by_the_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    std::fs::copy(
        common::root().join("layers/suii_kansoku.toml"),
        root.join("layers/suii_kansoku.toml"),
    )
    .expect("copy");
    let keys = root.join("keys.toml");
    let roles = ["kiki-kanri".to_string(), "sensor".to_string()];
    let key = chizu::access::keys::add(&keys, "gauge", &roles).expect("key");
    let (name, url) = database(true);
    let a = Server::start_on(root, &keys, &url);
    let b = Server::start_on(root, &keys, &url);
    let items = "/collections/suii_kansoku/items";
    let (status, body) = http(
        &a.internal,
        "POST",
        items,
        &key,
        &point(138.3, 34.85, r#"{"name":"共有観測所","level_chuui":2.0}"#),
    )
    .expect("post");
    assert_eq!(status, 201, "{body}");
    let fid = json(&body)["id"].as_u64().expect("id");
    let at = (chrono::Utc::now() - chrono::Duration::seconds(30)).to_rfc3339();
    // A reading posted to B: (status, body).
    let post_to_b = |station: u64, value: f64| {
        http(
            &b.internal,
            "POST",
            &format!("{items}/{station}/readings"),
            &key,
            &format!(r#"{{"time":"{at}","value":{value}}}"#),
        )
        .expect("post reading")
    };
    let (status, body) = post_to_b(fid, 2.5);
    assert_eq!(status, 200, "{body}");
    let reading = |s: &Server| {
        let (_, body) = http(&s.internal, "GET", &format!("{items}/{fid}"), &key, "").expect("get");
        json(&body)["properties"].clone()
    };
    let seen = within(Duration::from_secs(10), || reading(&a)["reading"] == 2.5);
    assert!(seen.is_some(), "A serves B's reading: {}", reading(&a));
    assert_eq!(reading(&a)["reading_level"], "level_chuui");
    let (_, series) = http(
        &a.internal,
        "GET",
        &format!("{items}/{fid}/readings"),
        &key,
        "",
    )
    .expect("series");
    assert_eq!(json(&series)["numberReturned"], 1, "{series}");
    // A station another server has stored but not yet announced (a copy made in the
    // database, which no NOTIFY tells B about): B takes its reading, because it asks the
    // database and not its own snapshot (in CI, B once answered 404 for a station just
    // added through A).
    let unheard = fid + 1_000;
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    c.execute(
        "INSERT INTO chizu.features(layer, fid, version, geometry, properties, deleted, updated, updated_by) \
         SELECT layer, fid + 1000, version, geometry, properties, deleted, updated, updated_by \
         FROM chizu.features WHERE layer = 'suii_kansoku' AND fid = $1",
        &[&i64::try_from(fid).expect("fid")],
    )
    .expect("copy the station");
    let (status, body) = post_to_b(unheard, 1.0);
    assert_eq!(status, 200, "a station stored but not announced: {body}");
    let (status, _) = post_to_b(fid + 2_000, 1.0);
    assert_eq!(status, 404, "a station that is nowhere");
    drop((a, b));
    let mut c = admin();
    let _ = c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
}

/// A layer read from a PostGIS table (`path = "PG:…"`, through GDAL's PostgreSQL driver):
/// the city's real shapefile loaded by `ogr2ogr` is served in its own CRS; an insert is
/// served within seconds without a reload; emptying the table is held back like a
/// truncated file; the password written in the layer file is never shown, and `check`
/// says to move it out.
#[test]
fn a_postgis_table_is_a_layer_source_read_again_when_it_changes() {
    let (name, url) = database(true);
    let roads = common::root().join("data/yaizu/都市計画道路/都市計画道路.shp");
    let load = std::process::Command::new("ogr2ogr")
        .args([
            "-f",
            "PostgreSQL",
            &format!("PG:{url}?application_name=test"),
        ])
        .arg(&roads)
        .args([
            "-nln",
            "douro",
            "-nlt",
            "PROMOTE_TO_MULTI",
            "-lco",
            "GEOMETRY_NAME=geom",
        ])
        .output()
        .expect("ogr2ogr runs (gdal-bin)");
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let n: i64 = db
        .query_one("SELECT count(*) FROM douro", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 300, "the sample's planned roads");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("layers")).expect("mkdir");
    // Trust authentication takes any password: it stands for one a city would write.
    let with_password = url.replacen(&format!("{ROLE}@"), &format!("{ROLE}:s3cret-pw@"), 1);
    std::fs::write(
        root.join("layers/douro_db.toml"),
        format!(
            "title = {{ ja = \"都市計画道路\", en = \"Planned roads\" }}\ncategory = \"douro\"\n\
             geometry = \"line\"\naccess = {{ view = \"public\" }}\n\n[[source]]\n\
             path = \"PG:{with_password}\"\nlayer = \"douro\"\npoll_seconds = 1\n"
        ),
    )
    .expect("layer file");
    let keys = root.join("keys.toml");
    let key = chizu::access::keys::add(&keys, "staff", &["admin".to_string()]).expect("key");

    let check = std::process::Command::new(env!("CARGO_BIN_EXE_chizu"))
        .args(["check", "--root"])
        .arg(root)
        .output()
        .expect("check");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{said}");
    assert!(said.contains("300 read, 300 kept"), "{said}");
    assert!(
        said.contains("JGD2000 / Japan Plane Rectangular CS VIII (table)"),
        "{said}"
    );
    assert!(said.contains(":***@"), "{said}");
    assert!(said.contains("holds a password"), "{said}");
    assert!(!said.contains("s3cret-pw"), "{said}");

    let server = Server::start(root, &keys, None);
    // Features matched in a layer's items, or `None` while the layer is not served.
    let matched = |layer: &str| {
        let (status, body) = http(
            &server.internal,
            "GET",
            &format!("/collections/{layer}/items?limit=1"),
            &key,
            "",
        )
        .expect("items");
        (status == 200)
            .then(|| json(&body)["numberMatched"].as_u64())
            .flatten()
    };
    let count = || matched("douro_db").expect("douro_db served, with numberMatched");
    assert_eq!(count(), 300);
    // Served in lon/lat: the first road lies in the city, not at plane-rectangular metres.
    let (_, body) = http(
        &server.internal,
        "GET",
        "/collections/douro_db/items?limit=1",
        &key,
        "",
    )
    .expect("items");
    let mut x = json(&body)["features"][0]["geometry"]["coordinates"].clone();
    while x[0].is_array() {
        x = x[0].clone();
    }
    let lon = x[0].as_f64().expect("lon");
    assert!((138.2..138.4).contains(&lon), "{x}");

    db.batch_execute(
        "INSERT INTO douro (geom) VALUES (ST_Multi(ST_GeomFromText('LINESTRING(-20000 -130000, -19000 -130500)', 2450)))",
    )
    .expect("insert");
    let took = within(Duration::from_secs(15), || count() == 301);
    assert!(
        took.is_some(),
        "the inserted road is served without a reload"
    );

    // A layer file added while serving, over another table, is polled too: the poller
    // parses the layer files again when one changes.
    db.batch_execute("CREATE TABLE douro2 AS SELECT * FROM douro")
        .expect("copy table");
    std::fs::write(
        root.join("layers/douro_db2.toml"),
        format!(
            "title = {{ ja = \"都市計画道路2\", en = \"Planned roads 2\" }}\ncategory = \"douro\"\n\
             geometry = \"line\"\naccess = {{ view = \"public\" }}\n\n[[source]]\n\
             path = \"PG:{url}\"\nlayer = \"douro2\"\npoll_seconds = 1\n"
        ),
    )
    .expect("second layer file");
    assert!(
        within(Duration::from_secs(15), || matched("douro_db2")
            == Some(301))
        .is_some(),
        "the added layer is served"
    );
    db.batch_execute(
        "INSERT INTO douro2 (geom) VALUES (ST_Multi(ST_GeomFromText('LINESTRING(-20000 -131000, -19000 -131500)', 2450)))",
    )
    .expect("insert");
    assert!(
        within(Duration::from_secs(15), || matched("douro_db2")
            == Some(302))
        .is_some(),
        "the added layer's table is polled"
    );
    assert_eq!(count(), 301, "the first table did not change");

    // An emptied table is what a failed import looks like: held back, the roads stay.
    db.batch_execute("DELETE FROM douro").expect("delete");
    let (_, health) = (0..75)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            let (s, b) = http(&server.internal, "GET", "/health", &key, "").expect("health");
            b.contains("held back").then_some((s, b))
        })
        .expect("the emptied table is reported as held back");
    assert_eq!(count(), 301, "{health}");
    assert!(health.contains("\"stale\""), "{health}");
    for path in [
        "/health",
        "/catalog",
        "/collections/douro_db",
        "/tiles/douro_db.json",
    ] {
        let (_, b) = http(&server.internal, "GET", path, &key, "").expect(path);
        assert!(!b.contains("s3cret-pw"), "{path}: {b}");
    }

    drop(server);
    drop(db);
    let mut c = admin();
    let _ = c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
}
