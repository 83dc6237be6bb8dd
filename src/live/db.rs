//! Where live features are kept: an embedded `SQLite` file (one server) or a
//! PostgreSQL/PostGIS database (several servers share it; each hears the others' changes
//! through `LISTEN`/`NOTIFY`).
//!
//! Both hold the same three things — the features (every version's newest state, deletes
//! kept for restore), the history of every attempt, and a schema version — and every
//! write is one transaction that is committed before the editor is answered.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value as Json};

use super::{LiveError, Reading};

/// The schema version this chizu writes; an older chizu refuses a newer database.
const SCHEMA_VERSION: i64 = 1;
/// The `NOTIFY` channel a change is announced on.
pub const CHANNEL: &str = "chizu_live";

/// Where the live layers are stored.
#[derive(Debug, Clone)]
pub enum Storage {
    /// `live.sqlite` in this state folder.
    Sqlite(PathBuf),
    /// A `postgres://` connection string.
    Postgres(String),
}

/// One stored feature, as the database holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub fid: u64,
    pub version: u64,
    pub geometry: String,
    pub properties: String,
    pub deleted: bool,
    pub updated: String,
    pub updated_by: String,
}

/// One history entry.
pub struct Entry<'a> {
    pub layer: &'a str,
    pub fid: u64,
    pub who: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub version: Option<u64>,
    pub before: Option<&'a Json>,
    pub after: Option<&'a Json>,
}

/// What one write transaction may do.
pub trait Txn {
    /// The stored feature, locked until the transaction ends.
    fn current(&mut self, layer: &str, fid: u64) -> Result<Option<Stored>, LiveError>;
    /// A feature id never given before in `layer`.
    fn next_fid(&mut self, layer: &str) -> Result<u64, LiveError>;
    /// Writes the feature's new state.
    fn put(&mut self, layer: &str, row: &Stored) -> Result<(), LiveError>;
    /// Keeps an entry in the history.
    fn record(&mut self, e: &Entry<'_>) -> Result<(), LiveError>;
    /// Stores readings of a station (one at a time already stored is replaced).
    fn add_readings(&mut self, layer: &str, fid: u64, r: &[Reading]) -> Result<(), LiveError>;
    /// Tells the other servers, once committed, that the feature changed (to `version`),
    /// or, with `None`, that it has new readings.
    fn announce(&mut self, layer: &str, fid: u64, version: Option<u64>) -> Result<(), LiveError>;
}

/// The open database.
pub enum Db {
    Sqlite {
        db: Connection,
        path: PathBuf,
    },
    Postgres {
        client: Option<Box<postgres::Client>>,
        config: Box<postgres::Config>,
    },
}

fn pg_err(e: &postgres::Error) -> LiveError {
    LiveError::Storage(pg_message(e))
}

/// A PostgreSQL error as the administrator needs to read it (the server's message, not
/// only "db error").
#[must_use]
pub fn pg_message(e: &postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        return match d.detail() {
            Some(detail) => format!("{}: {detail}", d.message()),
            None => d.message().to_string(),
        };
    }
    match std::error::Error::source(e) {
        Some(src) => format!("{e}: {src}"),
        None => e.to_string(),
    }
}

/// `host:port/dbname` of a connection string, without user or password (for logs).
#[must_use]
pub fn pg_describe(config: &postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".into(),
        |h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres {host}:{port}/{}",
        config.get_dbname().unwrap_or("")
    )
}

/// Parses a `postgres://` connection string (or `key=value` form).
pub fn pg_config(url: &str) -> Result<postgres::Config, LiveError> {
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        LiveError::Storage(format!(
            "--database is not a PostgreSQL connection string: {e}"
        ))
    })?;
    config.application_name("chizu");
    config.connect_timeout(std::time::Duration::from_secs(10));
    Ok(config)
}

/// Connects (without TLS: a local socket, 127.0.0.1 or a tunnel).
pub fn pg_connect(config: &postgres::Config) -> Result<postgres::Client, LiveError> {
    config.connect(postgres::NoTls).map_err(|e| {
        LiveError::Storage(format!(
            "cannot connect to {}: {}",
            pg_describe(config),
            pg_message(&e)
        ))
    })
}

impl Db {
    /// Opens (creating and migrating it if needed) the database.
    pub fn open(storage: &Storage) -> Result<Self, LiveError> {
        match storage {
            Storage::Sqlite(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    LiveError::Storage(format!(
                        "cannot create the state folder {}: {e}",
                        dir.display()
                    ))
                })?;
                let path = dir.join(super::DB_FILE);
                let db = open_sqlite(&path)?;
                Ok(Db::Sqlite { db, path })
            }
            Storage::Postgres(url) => {
                let config = pg_config(url)?;
                let mut client = pg_connect(&config)?;
                migrate_pg(&mut client, &config)?;
                Ok(Db::Postgres {
                    client: Some(Box::new(client)),
                    config: Box::new(config),
                })
            }
        }
    }

    /// Where the database is, for logs (never a password).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => path.display().to_string(),
            Db::Postgres { config, .. } => pg_describe(config),
        }
    }

    /// The connection string's settings (PostgreSQL only), for the listener.
    #[must_use]
    pub fn pg_config(&self) -> Option<&postgres::Config> {
        match self {
            Db::Sqlite { .. } => None,
            Db::Postgres { config, .. } => Some(config),
        }
    }

    /// The PostgreSQL client, connected anew if the connection was lost.
    fn pg<'a>(
        client: &'a mut Option<Box<postgres::Client>>,
        config: &postgres::Config,
    ) -> Result<&'a mut postgres::Client, LiveError> {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            *client = None;
            *client = Some(Box::new(pg_connect(config)?));
        }
        Ok(client.as_mut().expect("connected just above"))
    }

    /// Runs a read on PostgreSQL, once more on a new connection if the first found the
    /// connection lost.
    fn pg_read<T>(
        client: &mut Option<Box<postgres::Client>>,
        config: &postgres::Config,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, LiveError> {
        let c = Self::pg(client, config)?;
        match f(c) {
            Ok(v) => Ok(v),
            Err(_) if c.is_closed() => {
                let c = Self::pg(client, config)?;
                f(c).map_err(|e| pg_err(&e))
            }
            Err(e) => Err(pg_err(&e)),
        }
    }

    /// Every stored feature of a layer.
    pub fn load(&mut self, layer: &str) -> Result<Vec<Stored>, LiveError> {
        self.select(layer, None)
    }

    /// One stored feature.
    pub fn load_one(&mut self, layer: &str, fid: u64) -> Result<Option<Stored>, LiveError> {
        Ok(self.select(layer, Some(fid))?.pop())
    }

    fn select(&mut self, layer: &str, fid: Option<u64>) -> Result<Vec<Stored>, LiveError> {
        let fid = fid.map(|f| f as i64);
        match self {
            Db::Sqlite { db, .. } => {
                let mut stmt = db.prepare_cached(
                    "SELECT fid, version, geometry, properties, deleted, updated, updated_by
                     FROM features WHERE layer = ?1 AND (?2 IS NULL OR fid = ?2) ORDER BY fid",
                )?;
                let rows = stmt.query_map(params![layer, fid], |r| {
                    Ok(Stored {
                        fid: r.get::<_, i64>(0)? as u64,
                        version: r.get::<_, i64>(1)? as u64,
                        geometry: r.get(2)?,
                        properties: r.get(3)?,
                        deleted: r.get(4)?,
                        updated: r.get(5)?,
                        updated_by: r.get(6)?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Db::Postgres { client, config } => {
                let rows = Self::pg_read(client, config, |c| {
                    c.query(
                        "SELECT fid, version, geometry::text, properties::text, deleted, updated, updated_by
                         FROM chizu.features WHERE layer = $1 AND ($2::int8 IS NULL OR fid = $2) ORDER BY fid",
                        &[&layer as &(dyn postgres::types::ToSql + Sync), &fid],
                    )
                })?;
                Ok(rows.iter().map(pg_stored).collect())
            }
        }
    }

    /// The latest reading of every station of a layer.
    pub fn latest_readings(
        &mut self,
        layer: &str,
    ) -> Result<std::collections::BTreeMap<u64, Reading>, LiveError> {
        let rows: Vec<(i64, String, f64)> = match self {
            Db::Sqlite { db, .. } => {
                // SQLite gives the row of the max() for the bare columns.
                let mut stmt = db.prepare_cached(
                    "SELECT fid, max(at), value FROM readings WHERE layer = ?1 GROUP BY fid",
                )?;
                let rows = stmt.query_map([layer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            }
            Db::Postgres { client, config } => Self::pg_read(client, config, |c| {
                c.query(
                    "SELECT DISTINCT ON (fid) fid, at, value FROM chizu.readings
                     WHERE layer = $1 ORDER BY fid, at DESC",
                    &[&layer as &(dyn postgres::types::ToSql + Sync)],
                )
            })?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        };
        Ok(rows
            .into_iter()
            .map(|(fid, at, value)| {
                let ms = super::sensor::ms_of(&at);
                (fid as u64, Reading { at, ms, value })
            })
            .collect())
    }

    /// A station's readings in `[from, to]` (stored times; either open): oldest first, at
    /// most `limit` — the newest `limit` of them.
    pub fn series(
        &mut self,
        layer: &str,
        fid: u64,
        from: Option<&str>,
        to: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Reading>, LiveError> {
        let (fid, limit) = (fid as i64, limit as i64);
        let mut rows: Vec<(String, f64)> = match self {
            Db::Sqlite { db, .. } => {
                let mut stmt = db.prepare_cached(
                    "SELECT at, value FROM readings WHERE layer = ?1 AND fid = ?2
                     AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4)
                     ORDER BY at DESC LIMIT ?5",
                )?;
                let rows = stmt.query_map(params![layer, fid, from, to, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                rows.collect::<Result<_, _>>()?
            }
            Db::Postgres { client, config } => Self::pg_read(client, config, |c| {
                c.query(
                    "SELECT at, value FROM chizu.readings WHERE layer = $1 AND fid = $2
                     AND ($3::text IS NULL OR at >= $3) AND ($4::text IS NULL OR at <= $4)
                     ORDER BY at DESC LIMIT $5",
                    &[
                        &layer as &(dyn postgres::types::ToSql + Sync),
                        &fid,
                        &from,
                        &to,
                        &limit,
                    ],
                )
            })?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        };
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|(at, value)| Reading {
                ms: super::sensor::ms_of(&at),
                at,
                value,
            })
            .collect())
    }

    /// The history of one feature, oldest first (at most `limit` entries).
    pub fn history(&mut self, layer: &str, fid: u64, limit: usize) -> Result<Vec<Json>, LiveError> {
        let parse = |s: Option<String>| {
            s.and_then(|s| serde_json::from_str::<Json>(&s).ok())
                .unwrap_or(Json::Null)
        };
        let entry = |seq: i64,
                     at: String,
                     who: String,
                     action: String,
                     outcome: String,
                     version: Option<i64>,
                     before: Option<String>,
                     after: Option<String>| {
            json!({
                "seq": seq, "time": at, "who": who, "action": action, "outcome": outcome,
                "version": version, "before": parse(before), "after": parse(after),
            })
        };
        match self {
            Db::Sqlite { db, .. } => {
                let mut stmt = db.prepare_cached(
                    "SELECT seq, at, who, action, outcome, version, before, after FROM history
                     WHERE layer = ?1 AND fid = ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![layer, fid as i64, limit as i64], |r| {
                    Ok(entry(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Db::Postgres { client, config } => {
                let rows = Self::pg_read(client, config, |c| {
                    c.query(
                        "SELECT seq, at, who, action, outcome, version, before::text, after::text
                         FROM chizu.history WHERE layer = $1 AND fid = $2 ORDER BY seq LIMIT $3",
                        &[
                            &layer as &(dyn postgres::types::ToSql + Sync),
                            &(fid as i64),
                            &(limit as i64),
                        ],
                    )
                })?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        entry(
                            r.get(0),
                            r.get(1),
                            r.get(2),
                            r.get(3),
                            r.get(4),
                            r.get(5),
                            r.get(6),
                            r.get(7),
                        )
                    })
                    .collect())
            }
        }
    }

    /// Runs `f` in one transaction, committed when it returns `Ok` (whatever the `Ok`
    /// holds — a refused edit's history entry is kept too), rolled back on `Err`. With
    /// PostgreSQL, a connection found lost before the commit is made anew and `f` run
    /// again (the server rolled the first attempt back).
    pub fn write<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn Txn) -> Result<T, LiveError>,
    ) -> Result<T, LiveError> {
        match self {
            Db::Sqlite { db, .. } => {
                let mut tx = db.transaction()?;
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres { client, config } => {
                let mut tries = 0;
                loop {
                    let c = Self::pg(client, config)?;
                    let failed = match c.transaction() {
                        Err(e) => pg_err(&e),
                        Ok(mut tx) => {
                            let out = f(&mut PgTxn { tx: &mut tx });
                            match out {
                                Ok(v) => {
                                    return match tx.commit() {
                                        Ok(()) => Ok(v),
                                        Err(e) if e.as_db_error().is_some() => Err(pg_err(&e)),
                                        Err(e) => Err(LiveError::Unknown(pg_message(&e))),
                                    }
                                }
                                Err(e) => e,
                            }
                        }
                    };
                    if tries == 0 && c.is_closed() {
                        tries += 1;
                        tracing::info!("database connection lost ({failed}): connecting again");
                        continue;
                    }
                    return Err(failed);
                }
            }
        }
    }
}

fn pg_stored(r: &postgres::Row) -> Stored {
    Stored {
        fid: r.get::<_, i64>(0) as u64,
        version: r.get::<_, i64>(1) as u64,
        geometry: r.get(2),
        properties: r.get(3),
        deleted: r.get(4),
        updated: r.get(5),
        updated_by: r.get(6),
    }
}

impl Txn for rusqlite::Transaction<'_> {
    fn current(&mut self, layer: &str, fid: u64) -> Result<Option<Stored>, LiveError> {
        // One connection, under the store's lock: nothing else writes in between.
        Ok(self
            .query_row(
                "SELECT fid, version, geometry, properties, deleted, updated, updated_by
                 FROM features WHERE layer = ?1 AND fid = ?2",
                params![layer, fid as i64],
                |r| {
                    Ok(Stored {
                        fid: r.get::<_, i64>(0)? as u64,
                        version: r.get::<_, i64>(1)? as u64,
                        geometry: r.get(2)?,
                        properties: r.get(3)?,
                        deleted: r.get(4)?,
                        updated: r.get(5)?,
                        updated_by: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    fn next_fid(&mut self, layer: &str) -> Result<u64, LiveError> {
        let n: i64 = self.query_row(
            "SELECT coalesce(max(fid), 0) + 1 FROM features WHERE layer = ?1",
            [layer],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn put(&mut self, layer: &str, row: &Stored) -> Result<(), LiveError> {
        self.execute(
            "INSERT INTO features(layer, fid, version, geometry, properties, deleted, updated, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(layer, fid) DO UPDATE SET version = excluded.version, geometry = excluded.geometry,
               properties = excluded.properties, deleted = excluded.deleted, updated = excluded.updated,
               updated_by = excluded.updated_by",
            params![
                layer,
                row.fid as i64,
                row.version as i64,
                row.geometry,
                row.properties,
                row.deleted,
                row.updated,
                row.updated_by
            ],
        )?;
        Ok(())
    }

    fn record(&mut self, e: &Entry<'_>) -> Result<(), LiveError> {
        self.execute(
            "INSERT INTO history(layer, fid, at, who, action, outcome, version, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                e.layer,
                e.fid as i64,
                super::now(),
                e.who,
                e.action,
                e.outcome,
                e.version.map(|v| v as i64),
                e.before.map(Json::to_string),
                e.after.map(Json::to_string)
            ],
        )?;
        Ok(())
    }

    fn add_readings(&mut self, layer: &str, fid: u64, r: &[Reading]) -> Result<(), LiveError> {
        let mut stmt = self.prepare_cached(
            "INSERT OR REPLACE INTO readings(layer, fid, at, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for x in r {
            stmt.execute(params![layer, fid as i64, x.at, x.value])?;
        }
        Ok(())
    }

    fn announce(&mut self, _: &str, _: u64, _: Option<u64>) -> Result<(), LiveError> {
        Ok(())
    }
}

struct PgTxn<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
}

impl Txn for PgTxn<'_, '_> {
    fn current(&mut self, layer: &str, fid: u64) -> Result<Option<Stored>, LiveError> {
        // Locked: another server's edit of the same feature waits for this one.
        let row = self
            .tx
            .query_opt(
                "SELECT fid, version, geometry::text, properties::text, deleted, updated, updated_by
                 FROM chizu.features WHERE layer = $1 AND fid = $2 FOR UPDATE",
                &[&layer as &(dyn postgres::types::ToSql + Sync), &(fid as i64)],
            )
            .map_err(|e| pg_err(&e))?;
        Ok(row.as_ref().map(pg_stored))
    }

    fn next_fid(&mut self, layer: &str) -> Result<u64, LiveError> {
        self.tx
            .execute(
                "INSERT INTO chizu.layers(layer, next_fid)
                 SELECT $1, coalesce(max(fid), 0) + 1 FROM chizu.features WHERE layer = $1
                 ON CONFLICT (layer) DO NOTHING",
                &[&layer],
            )
            .map_err(|e| pg_err(&e))?;
        let row = self
            .tx
            .query_one(
                "UPDATE chizu.layers SET next_fid = next_fid + 1 WHERE layer = $1 RETURNING next_fid - 1",
                &[&layer],
            )
            .map_err(|e| pg_err(&e))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn put(&mut self, layer: &str, row: &Stored) -> Result<(), LiveError> {
        self.tx
            .execute(
                "INSERT INTO chizu.features(layer, fid, version, geometry, properties, deleted, updated, updated_by)
                 VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6, $7, $8)
                 ON CONFLICT (layer, fid) DO UPDATE SET version = excluded.version, geometry = excluded.geometry,
                   properties = excluded.properties, deleted = excluded.deleted, updated = excluded.updated,
                   updated_by = excluded.updated_by",
                &[
                    &layer as &(dyn postgres::types::ToSql + Sync),
                    &(row.fid as i64),
                    &(row.version as i64),
                    &row.geometry,
                    &row.properties,
                    &row.deleted,
                    &row.updated,
                    &row.updated_by,
                ],
            )
            .map_err(|e| pg_err(&e))?;
        Ok(())
    }

    fn record(&mut self, e: &Entry<'_>) -> Result<(), LiveError> {
        let before = e.before.map(Json::to_string);
        let after = e.after.map(Json::to_string);
        self.tx
            .execute(
                "INSERT INTO chizu.history(layer, fid, at, who, action, outcome, version, before, after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9::text::jsonb)",
                &[
                    &e.layer as &(dyn postgres::types::ToSql + Sync),
                    &(e.fid as i64),
                    &super::now(),
                    &e.who,
                    &e.action,
                    &e.outcome,
                    &e.version.map(|v| v as i64),
                    &before,
                    &after,
                ],
            )
            .map_err(|e| pg_err(&e))?;
        Ok(())
    }

    fn add_readings(&mut self, layer: &str, fid: u64, r: &[Reading]) -> Result<(), LiveError> {
        let ats: Vec<&str> = r.iter().map(|x| x.at.as_str()).collect();
        let values: Vec<f64> = r.iter().map(|x| x.value).collect();
        self.tx
            .execute(
                "INSERT INTO chizu.readings(layer, fid, at, value)
                 SELECT $1, $2, a, v FROM unnest($3::text[], $4::float8[]) AS t(a, v)
                 ON CONFLICT (layer, fid, at) DO UPDATE SET value = excluded.value",
                &[
                    &layer as &(dyn postgres::types::ToSql + Sync),
                    &(fid as i64),
                    &ats,
                    &values,
                ],
            )
            .map_err(|e| pg_err(&e))?;
        Ok(())
    }

    fn announce(&mut self, layer: &str, fid: u64, version: Option<u64>) -> Result<(), LiveError> {
        // Delivered to every listener when (and only if) the transaction commits.
        let payload = match version {
            Some(v) => format!("{layer} {fid} {v}"),
            None => format!("{layer} {fid} r"),
        };
        self.tx
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
            .map_err(|e| pg_err(&e))?;
        Ok(())
    }
}

fn open_sqlite(path: &Path) -> Result<Connection, LiveError> {
    let db = Connection::open(path)?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = db.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LiveError::Storage(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    db.execute_batch(
        "PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS features(
             layer TEXT NOT NULL, fid INTEGER NOT NULL, version INTEGER NOT NULL,
             geometry TEXT NOT NULL, properties TEXT NOT NULL,
             deleted INTEGER NOT NULL DEFAULT 0, updated TEXT NOT NULL, updated_by TEXT NOT NULL,
             PRIMARY KEY(layer, fid));
         CREATE TABLE IF NOT EXISTS history(
             seq INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, fid INTEGER NOT NULL,
             at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
             version INTEGER, before TEXT, after TEXT);
         CREATE INDEX IF NOT EXISTS history_feature ON history(layer, fid, seq);
         CREATE TABLE IF NOT EXISTS readings(
             layer TEXT NOT NULL, fid INTEGER NOT NULL, at TEXT NOT NULL, value REAL NOT NULL,
             PRIMARY KEY(layer, fid, at));",
    )?;
    let found: Option<String> = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    check_version(found.as_deref(), &path.display().to_string())?;
    if found.is_none() {
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION.to_string()],
        )?;
    }
    Ok(db)
}

fn check_version(found: Option<&str>, what: &str) -> Result<(), LiveError> {
    match found.and_then(|v| v.parse::<i64>().ok()) {
        Some(v) if v > SCHEMA_VERSION => Err(LiveError::Storage(format!(
            "{what} has schema version {v}, newer than this chizu's {SCHEMA_VERSION}: run a newer chizu"
        ))),
        _ => Ok(()),
    }
}

/// Creates chizu's schema in PostgreSQL (under an advisory lock, so servers starting
/// together do not race), or checks the one there.
fn migrate_pg(c: &mut postgres::Client, config: &postgres::Config) -> Result<(), LiveError> {
    let what = pg_describe(config);
    let mut tx = c.transaction().map_err(|e| pg_err(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock(7301466515)", &[])
        .map_err(|e| pg_err(&e))?;
    let has_postgis = tx
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'postgis'", &[])
        .map_err(|e| pg_err(&e))?
        .is_some();
    if !has_postgis {
        tx.batch_execute("CREATE EXTENSION postgis").map_err(|e| {
            LiveError::Storage(format!(
                "{what} has no PostGIS and chizu could not add it ({}): install PostGIS \
                 (Debian: postgresql-N-postgis-3) and run `CREATE EXTENSION postgis` as the database owner",
                pg_message(&e)
            ))
        })?;
    }
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS chizu;
         CREATE TABLE IF NOT EXISTS chizu.meta(key text PRIMARY KEY, value text NOT NULL);
         CREATE TABLE IF NOT EXISTS chizu.layers(layer text PRIMARY KEY, next_fid bigint NOT NULL);
         CREATE TABLE IF NOT EXISTS chizu.features(
             layer text NOT NULL, fid bigint NOT NULL, version bigint NOT NULL,
             geometry jsonb NOT NULL, properties jsonb NOT NULL,
             deleted boolean NOT NULL DEFAULT false, updated text NOT NULL, updated_by text NOT NULL,
             geom geometry(Geometry, 4326)
                 GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326)) STORED,
             PRIMARY KEY(layer, fid));
         CREATE INDEX IF NOT EXISTS features_geom ON chizu.features USING gist(geom);
         CREATE TABLE IF NOT EXISTS chizu.history(
             seq bigserial PRIMARY KEY, layer text NOT NULL, fid bigint NOT NULL,
             at text NOT NULL, who text NOT NULL, action text NOT NULL, outcome text NOT NULL,
             version bigint, before jsonb, after jsonb);
         CREATE INDEX IF NOT EXISTS history_feature ON chizu.history(layer, fid, seq);
         CREATE TABLE IF NOT EXISTS chizu.readings(
             layer text NOT NULL, fid bigint NOT NULL, at text NOT NULL, value float8 NOT NULL,
             PRIMARY KEY(layer, fid, at));",
    )
    .map_err(|e| {
        LiveError::Storage(format!(
            "cannot create chizu's tables in {what}: {}",
            pg_message(&e)
        ))
    })?;
    let found: Option<String> = tx
        .query_opt(
            "SELECT value FROM chizu.meta WHERE key = 'schema_version'",
            &[],
        )
        .map_err(|e| pg_err(&e))?
        .map(|r| r.get(0));
    check_version(found.as_deref(), &what)?;
    if found.is_none() {
        tx.execute(
            "INSERT INTO chizu.meta(key, value) VALUES ('schema_version', $1)",
            &[&SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| pg_err(&e))?;
    }
    tx.commit().map_err(|e| pg_err(&e))?;
    Ok(())
}
