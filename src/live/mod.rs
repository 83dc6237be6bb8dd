//! Live layers: features created and edited through the API, kept in an embedded
//! `SQLite` database (WAL, `synchronous=FULL`) in the state folder. A write is answered only once
//! its transaction is committed; the layer's new snapshot is then swapped into the
//! catalog, so every route (tiles, queries, OGC API, downloads, reports) serves it at once.
//!
//! Every change — and every refused stale edit — is kept in `history` (who, when, before
//! → after); a delete only marks the row, so an admin can restore it.
//!
//! Schema (`meta.schema_version` = 1; a newer chizu migrates older files forward, an older
//! chizu refuses a newer file):
//! - `features(layer, fid, version, geometry, properties, deleted, updated, updated_by)`
//! - `history(seq, layer, fid, at, who, action, outcome, version, before, after)`
//!
//! Back up with `sqlite3 state/live.sqlite ".backup backup.sqlite"` while serving (the
//! online backup of `SQLite`), or copy the folder while chizu is stopped.

mod geometry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value as Json};

use crate::config::{ConstValue, EditAction, LayerDef};
use crate::store::{
    Catalog, Feature, FieldDef, FieldType, LayerSnapshot, LiveFacts, PartBox, Shape, Value,
};

pub use geometry::MAX_VERTICES;

/// The database file inside the state folder.
pub const DB_FILE: &str = "live.sqlite";
const SCHEMA_VERSION: i64 = 1;
/// Longest text value by default, in characters.
const DEFAULT_MAX_LENGTH: usize = 1_000;
/// Changes remembered per layer for tile invalidation; beyond that every tile of the layer
/// is made anew once (the floor moves up).
const MAX_CHANGES: usize = 512;
/// Who a resident's report is from, in the history (never the client's address).
pub const RESIDENT: &str = "resident (public listener)";
/// History entries returned at most for one feature.
const MAX_HISTORY: usize = 1_000;

/// Why an edit was not applied.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no such feature")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("the feature has changed since it was read: its version is now {current}")]
    Stale { current: u64 },
    #[error("the caller's roles may not {0} features of this layer")]
    Forbidden(&'static str),
    /// The database could not be written: nothing was changed.
    #[error("the state database cannot be written ({0}); nothing was changed")]
    Storage(String),
}

impl From<rusqlite::Error> for LiveError {
    fn from(e: rusqlite::Error) -> Self {
        LiveError::Storage(e.to_string())
    }
}

/// One change, as the event streams tell it.
#[derive(Debug, Clone)]
pub struct Change {
    pub layer: String,
    pub fid: u64,
    /// `create`, `update`, `delete` or `restore`.
    pub action: &'static str,
    /// The feature's version after the change.
    pub version: u64,
    /// Whether the public view saw the feature before and after.
    pub public_before: bool,
    pub public_after: bool,
    /// Whether the layer is public at all.
    pub public_layer: bool,
    /// The change's box in WGS 84 `[west, south, east, north]` (old and new geometry).
    pub bbox: [f64; 4],
}

/// One stored feature.
#[derive(Debug, Clone)]
struct Row {
    geometry: Json,
    properties: Map<String, Json>,
    version: u64,
    deleted: bool,
    updated: String,
    updated_by: String,
    shape: Shape,
    bbox: PartBox,
    /// `properties` as the schema's values (made once per version, not per snapshot).
    values: Arc<[Value]>,
}

struct LiveLayer {
    def: Arc<LayerDef>,
    fields: Vec<FieldDef>,
    rows: BTreeMap<u64, Row>,
    next_fid: u64,
    version: u64,
    floor: u64,
    changes: Vec<(u64, PartBox)>,
}

/// Fields every live layer has after its own, set by chizu (staff only): who changed a
/// feature last, and when.
pub const SYSTEM_FIELDS: [&str; 2] = ["updated_at", "updated_by"];

/// The fields a live layer serves: its layer file's, then [`SYSTEM_FIELDS`].
#[must_use]
pub fn fields_of(def: &LayerDef) -> Vec<FieldDef> {
    let system = |name: &str, ja: &str, en: &str| FieldDef {
        name: name.into(),
        kind: FieldType::String,
        label: Some(crate::config::I18n {
            ja: ja.into(),
            en: en.into(),
        }),
        values: BTreeMap::new(),
        internal: true,
    };
    def.fields
        .iter()
        .map(|f| FieldDef {
            name: f.output_name().to_string(),
            kind: f.kind.unwrap_or(FieldType::String),
            label: f.label.clone(),
            values: f.values.clone(),
            internal: f.internal,
        })
        .chain([
            system(SYSTEM_FIELDS[0], "更新日時", "Last changed"),
            system(SYSTEM_FIELDS[1], "更新者", "Changed by"),
        ])
        .collect()
}

/// A row's served values: its properties' `user` values, then who changed it and when.
fn stamped(user: impl IntoIterator<Item = Value>, updated: &str, by: &str) -> Arc<[Value]> {
    user.into_iter()
        .chain([Value::Str(updated.into()), Value::Str(by.into())])
        .collect()
}

fn const_json(c: &ConstValue) -> Json {
    match c {
        ConstValue::Bool(b) => json!(b),
        ConstValue::Int(i) => json!(i),
        ConstValue::Float(f) => json!(f),
        ConstValue::Str(s) => json!(s),
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl LiveLayer {
    fn new(def: Arc<LayerDef>) -> Self {
        Self {
            fields: fields_of(&def),
            def,
            rows: BTreeMap::new(),
            next_fid: 1,
            version: 1,
            floor: 1,
            changes: Vec::new(),
        }
    }

    /// A property value as the field's type, or why it is not one.
    fn value(fd: &FieldDef, cfg: &crate::config::FieldCfg, v: &Json) -> Result<Value, String> {
        let name = &fd.name;
        let v = match (v, fd.kind) {
            (Json::Null, _) => Value::Null,
            (Json::String(s), FieldType::String) => {
                let max = cfg.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
                if s.chars().count() > max {
                    return Err(format!("field `{name}`: longer than {max} characters"));
                }
                if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err(format!(
                        "field `{name}`: control characters are not allowed"
                    ));
                }
                Value::Str(s.as_str().into())
            }
            (Json::Number(n), FieldType::Integer) if n.is_i64() => {
                Value::Int(n.as_i64().unwrap_or_default())
            }
            (Json::Number(n), FieldType::Float) => match n.as_f64() {
                Some(f) if f.is_finite() => Value::Float(f),
                _ => return Err(format!("field `{name}`: not a finite number")),
            },
            (Json::Bool(b), FieldType::Boolean) => Value::Bool(*b),
            _ => {
                return Err(format!(
                    "field `{name}`: expected {} (or null)",
                    match fd.kind {
                        FieldType::String => "a string",
                        FieldType::Integer => "an integer",
                        FieldType::Float => "a number",
                        FieldType::Boolean => "true or false",
                    }
                ))
            }
        };
        if cfg.required && v == Value::Null {
            return Err(format!("field `{name}` is required"));
        }
        if let Some(k) = v.key().filter(|_| !fd.values.is_empty()) {
            if !fd.values.contains_key(&k) {
                let allowed: Vec<&str> = fd.values.keys().map(String::as_str).collect();
                return Err(format!(
                    "field `{name}`: `{k}` is not one of its values ({})",
                    allowed.join(", ")
                ));
            }
        }
        Ok(v)
    }

    /// Checks properties against the schema; returns them complete (every field, in schema
    /// order) and the values.
    fn check(&self, props: &Map<String, Json>) -> Result<(Map<String, Json>, Vec<Value>), String> {
        if let Some(k) = props.keys().find(|k| {
            !self
                .def
                .fields
                .iter()
                .any(|f| f.output_name() == k.as_str())
        }) {
            let known: Vec<&str> = self
                .def
                .fields
                .iter()
                .map(crate::config::FieldCfg::output_name)
                .collect();
            return Err(format!(
                "unknown field `{}` (this layer has: {})",
                k.chars().take(64).collect::<String>(),
                known.join(", ")
            ));
        }
        let mut out = Map::new();
        let mut values = Vec::with_capacity(self.fields.len());
        for (fd, cfg) in self.fields.iter().zip(&self.def.fields) {
            let v = props.get(&fd.name).unwrap_or(&Json::Null);
            values.push(Self::value(fd, cfg, v)?);
            out.insert(fd.name.clone(), v.clone());
        }
        Ok((out, values))
    }

    /// Properties of a new feature: defaults for what it does not give.
    fn with_defaults(&self, mut props: Map<String, Json>) -> Map<String, Json> {
        for cfg in &self.def.fields {
            if let Some(d) = &cfg.default {
                props
                    .entry(cfg.output_name().to_string())
                    .or_insert_with(|| const_json(d));
            }
        }
        props
    }

    fn values_of(&self, props: &Map<String, Json>) -> Vec<Value> {
        self.fields
            .iter()
            .zip(&self.def.fields)
            .map(|(fd, cfg)| {
                Self::value(fd, cfg, props.get(&fd.name).unwrap_or(&Json::Null))
                    .unwrap_or(Value::Null)
            })
            .collect()
    }

    fn is_public(&self, values: &[Value]) -> bool {
        if !self.def.is_public() {
            return false;
        }
        let Some(f) = &self.def.public_filter else {
            return true;
        };
        let Some(v) = self
            .fields
            .iter()
            .position(|d| d.name == f.field)
            .map(|i| &values[i])
        else {
            return false;
        };
        // As `Value::key` would write it, without making the string.
        f.equals.iter().any(|e| match v {
            Value::Null => false,
            Value::Bool(b) => e == if *b { "true" } else { "false" },
            Value::Str(s) => **s == **e,
            other => other.key().is_some_and(|k| k == *e),
        })
    }

    fn snapshot(&self) -> Arc<LayerSnapshot> {
        let mut versions = rustc_hash::FxHashMap::default();
        let features: Vec<Feature> = self
            .rows
            .iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(&fid, r)| {
                versions.insert(fid, r.version);
                Feature {
                    id: fid,
                    public: self.is_public(&r.values),
                    shape: r.shape.clone(),
                    bbox: r.bbox,
                    values: Arc::clone(&r.values),
                }
            })
            .collect();
        let snap = LayerSnapshot::build_live(
            Arc::clone(&self.def),
            self.fields.clone(),
            features,
            self.version,
        );
        Arc::new(snap.with_live(LiveFacts {
            versions,
            floor: self.floor,
            changes: self.changes.clone(),
        }))
    }

    /// Notes a change over `boxes` at a new layer version.
    fn touch(&mut self, boxes: &[PartBox]) {
        self.version += 1;
        for b in boxes {
            self.changes.push((self.version, *b));
        }
        if self.changes.len() > MAX_CHANGES {
            self.changes.clear();
            self.floor = self.version;
        }
    }
}

/// A feature as the editing API shows it to staff (internal view: every field).
fn row_json(fid: u64, r: &Row) -> Json {
    json!({ "type": "Feature", "id": fid, "geometry": r.geometry, "properties": r.properties })
}

struct Inner {
    db: Connection,
    layers: BTreeMap<String, LiveLayer>,
}

/// The live layers of one root, and their database.
pub struct LiveStore {
    inner: Mutex<Inner>,
    /// The newest snapshot of each live layer, as put into the catalog: held while the
    /// catalog is swapped, so a reload never puts back an older one.
    published: Mutex<BTreeMap<String, Arc<LayerSnapshot>>>,
    events: tokio::sync::broadcast::Sender<Arc<Change>>,
    path: PathBuf,
}

/// What an applied edit returns.
pub struct Applied {
    pub fid: u64,
    pub version: u64,
    pub snapshot: Arc<LayerSnapshot>,
}

fn open_db(path: &Path) -> Result<Connection, LiveError> {
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
         CREATE INDEX IF NOT EXISTS history_feature ON history(layer, fid, seq);",
    )?;
    let found: Option<String> = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match found.and_then(|v| v.parse::<i64>().ok()) {
        None => {
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(v) if v > SCHEMA_VERSION => {
            return Err(LiveError::Storage(format!(
                "{} has schema version {v}, newer than this chizu's {SCHEMA_VERSION}: run a newer chizu",
                path.display()
            )));
        }
        Some(_) => {}
    }
    Ok(db)
}

impl LiveStore {
    /// Opens (creating it if needed) the database in `state` and loads the live layers of
    /// `defs`. Features whose stored properties no longer fit the layer's schema are served
    /// with null for what does not fit, and counted in the log.
    pub fn open(state: &Path, defs: &[Arc<LayerDef>]) -> Result<Self, LiveError> {
        std::fs::create_dir_all(state).map_err(|e| {
            LiveError::Storage(format!(
                "cannot create the state folder {}: {e}",
                state.display()
            ))
        })?;
        let path = state.join(DB_FILE);
        let db = open_db(&path)?;
        let mut layers = BTreeMap::new();
        for def in defs.iter().filter(|d| d.live.is_some()) {
            let layer = Self::read_layer(&db, Arc::clone(def))?;
            layers.insert(def.id.to_string(), layer);
        }
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let published = layers
            .iter()
            .map(|(id, l)| (id.clone(), l.snapshot()))
            .collect();
        Ok(Self {
            inner: Mutex::new(Inner { db, layers }),
            published: Mutex::new(published),
            events,
            path,
        })
    }

    fn read_layer(db: &Connection, def: Arc<LayerDef>) -> Result<LiveLayer, LiveError> {
        let mut layer = LiveLayer::new(def);
        let mut stmt = db.prepare(
            "SELECT fid, version, geometry, properties, deleted, updated, updated_by
             FROM features WHERE layer = ?1",
        )?;
        let rows = stmt.query_map([layer.def.id.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut unusable = 0;
        for row in rows {
            let (fid, version, g, p, deleted, updated, updated_by) = row?;
            let fid = fid as u64;
            layer.next_fid = layer.next_fid.max(fid + 1);
            let geometry: Json = serde_json::from_str(&g).unwrap_or(Json::Null);
            let Ok(shape) = geometry::shape(&geometry, layer.def.geometry) else {
                unusable += 1;
                continue;
            };
            let properties: Map<String, Json> = serde_json::from_str(&p).unwrap_or_default();
            let values = stamped(layer.values_of(&properties), &updated, &updated_by);
            let bbox = crate::store::PartBox::of(shape_coords(&shape).iter()).unwrap_or(PartBox {
                min: geo::Coord::default(),
                max: geo::Coord::default(),
            });
            layer.rows.insert(
                fid,
                Row {
                    geometry,
                    properties,
                    version: version as u64,
                    deleted,
                    updated,
                    updated_by,
                    shape,
                    bbox,
                    values,
                },
            );
        }
        if unusable > 0 {
            tracing::error!(layer = %layer.def.id, unusable, "stored features whose geometry this layer cannot serve");
        }
        Ok(layer)
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A receiver of every applied change.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Change>> {
        self.events.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts the newest live snapshots into `next` and makes it the catalog. A live layer
    /// whose layer file changed is registered anew first.
    pub fn install(&self, catalog: &ArcSwap<Catalog>, next: Catalog) {
        let mut next = next;
        // Live layers new to this store, or whose definition changed.
        let stale: Vec<Arc<LayerDef>> = {
            let inner = self.lock();
            next.layers()
                .filter(|l| l.def.live.is_some())
                .filter(|l| {
                    inner
                        .layers
                        .get(l.def.id.as_str())
                        .is_none_or(|have| !same_def(&have.def, &l.def))
                })
                .map(|l| Arc::clone(&l.def))
                .collect()
        };
        for def in stale {
            let layer = Self::read_layer(&self.lock().db, Arc::clone(&def));
            match layer {
                Ok(mut layer) => {
                    let mut inner = self.lock();
                    let v = inner
                        .layers
                        .get(def.id.as_str())
                        .map_or(1, |l| l.version + 1);
                    layer.version = v;
                    layer.floor = v;
                    let snap = layer.snapshot();
                    inner.layers.insert(def.id.to_string(), layer);
                    self.published
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(def.id.to_string(), snap);
                }
                Err(e) => tracing::error!(layer = %def.id, "live layer not loaded: {e}"),
            }
        }
        let published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (id, snap) in published.iter() {
            if next.get(id).is_some_and(|l| l.def.live.is_some()) {
                next = next.with_layer(Arc::clone(snap));
            }
        }
        catalog.store(Arc::new(next));
    }

    /// Swaps one layer's snapshot into the catalog (called with the store's lock held, so
    /// snapshots go in in the order they were made).
    fn publish(&self, catalog: &ArcSwap<Catalog>, snap: Arc<LayerSnapshot>) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        published.insert(snap.def.id.to_string(), Arc::clone(&snap));
        let current = catalog.load_full();
        if current.get(snap.def.id.as_str()).is_some() {
            catalog.store(Arc::new(current.with_layer(snap)));
        }
    }

    fn allowed(
        def: &LayerDef,
        who: &crate::access::Principal,
        action: EditAction,
    ) -> Result<(), LiveError> {
        let roles = def
            .live
            .as_ref()
            .map(|e| e.roles(action))
            .unwrap_or_default();
        if who.is_admin() || roles.iter().any(|r| who.roles.contains(r)) {
            Ok(())
        } else {
            Err(LiveError::Forbidden(match action {
                EditAction::Create => "create",
                EditAction::Update => "update",
                EditAction::Delete => "delete",
            }))
        }
    }

    /// What the caller's roles allow on a layer: (create, update, delete).
    #[must_use]
    pub fn rights(def: &LayerDef, who: &crate::access::Principal) -> [bool; 3] {
        [EditAction::Create, EditAction::Update, EditAction::Delete]
            .map(|a| Self::allowed(def, who, a).is_ok())
    }

    /// `POST …/items`: a new feature from a GeoJSON Feature.
    pub fn create(
        &self,
        catalog: &ArcSwap<Catalog>,
        layer: &str,
        who: &crate::access::Principal,
        body: &Json,
    ) -> Result<Applied, LiveError> {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let l = layers.get_mut(layer).ok_or(LiveError::NotFound)?;
        Self::allowed(&l.def, who, EditAction::Create)?;
        let (geometry, shape) = feature_geometry(l, body, true)?
            .ok_or_else(|| LiveError::Invalid("a feature needs a `geometry`".into()))?;
        let props = l.with_defaults(feature_properties(body)?);
        let (props, values) = l.check(&props).map_err(LiveError::Invalid)?;
        let public_after = l.is_public(&values);
        let row = new_row(geometry, props, 1, who, (shape, values));
        let applied = self.insert(catalog, db, l, row, who, ("create", public_after))?;
        Ok(applied)
    }

    /// A resident's report from the public listener: a point, the layer's report category
    /// and text (nothing else), stored unpublished. Returns nothing a resident could use
    /// to read it back.
    pub fn report(
        &self,
        catalog: &ArcSwap<Catalog>,
        layer: &str,
        body: &Json,
    ) -> Result<(), LiveError> {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let l = layers.get_mut(layer).ok_or(LiveError::NotFound)?;
        let cfg = l.def.reports.clone().ok_or(LiveError::NotFound)?;
        let (geometry, shape) = feature_geometry(l, body, true)?.ok_or_else(|| {
            LiveError::Invalid("a report needs a `geometry`: the point it is about".into())
        })?;
        let given = feature_properties(body)?;
        let allowed = [Some(cfg.category.as_str()), cfg.text.as_deref()];
        if let Some(k) = given.keys().find(|k| !allowed.contains(&Some(k.as_str()))) {
            return Err(LiveError::Invalid(format!(
                "a report takes only `{}`{}; not `{}`",
                cfg.category,
                cfg.text
                    .as_ref()
                    .map(|t| format!(" and `{t}`"))
                    .unwrap_or_default(),
                k.chars().take(64).collect::<String>()
            )));
        }
        if given.get(&cfg.category).is_none_or(Json::is_null) {
            return Err(LiveError::Invalid(format!(
                "a report needs `{}`",
                cfg.category
            )));
        }
        let (props, values) = l
            .check(&l.with_defaults(given))
            .map_err(LiveError::Invalid)?;
        if l.is_public(&values) {
            // The layer file's defaults would publish it at once: never.
            return Err(LiveError::Forbidden(
                "accept a report that would be public before staff publish it:",
            ));
        }
        let who = crate::access::Principal {
            name: RESIDENT.into(),
            roles: std::collections::BTreeSet::new(),
        };
        let row = new_row(geometry, props, 1, &who, (shape, values));
        self.insert(catalog, db, l, row, &who, ("report", false))?;
        Ok(())
    }

    /// Stores a new feature (durably), then serves it and tells the event streams.
    fn insert(
        &self,
        catalog: &ArcSwap<Catalog>,
        db: &mut Connection,
        l: &mut LiveLayer,
        row: Row,
        who: &crate::access::Principal,
        (action, public_after): (&'static str, bool),
    ) -> Result<Applied, LiveError> {
        let layer = l.def.id.to_string();
        let fid = l.next_fid;
        let after = row_json(fid, &row);
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO features(layer, fid, version, geometry, properties, deleted, updated, updated_by)
             VALUES (?1, ?2, 1, ?3, ?4, 0, ?5, ?6)",
            params![layer, fid as i64, row.geometry.to_string(), Json::Object(row.properties.clone()).to_string(), row.updated, row.updated_by],
        )?;
        history(
            &tx,
            &layer,
            fid,
            who,
            action,
            "applied",
            Some(1),
            None,
            Some(&after),
        )?;
        tx.commit()?;
        l.next_fid += 1;
        Ok(self.apply(catalog, l, fid, row, None, (action, false, public_after)))
    }

    /// Takes a committed `row` into the layer (replacing its version with the box
    /// `old_box`, if any), serves the new snapshot and tells the event streams.
    fn apply(
        &self,
        catalog: &ArcSwap<Catalog>,
        l: &mut LiveLayer,
        fid: u64,
        row: Row,
        old_box: Option<PartBox>,
        (action, public_before, public_after): (&'static str, bool, bool),
    ) -> Applied {
        let version = row.version;
        let boxes: Vec<PartBox> = old_box.into_iter().chain([row.bbox]).collect();
        l.rows.insert(fid, row);
        l.touch(&boxes);
        let snapshot = l.snapshot();
        let change = change_of(l, fid, action, version, public_before, public_after, &boxes);
        self.publish(catalog, Arc::clone(&snapshot));
        let _ = self.events.send(Arc::new(change));
        Applied {
            fid,
            version,
            snapshot,
        }
    }

    /// `PUT` (whole feature), `PATCH` (merge: given properties replace, null clears; a
    /// geometry replaces) or `DELETE` of one feature; `if_match` is the version the editor
    /// read (a stale one is refused and kept in the history).
    #[allow(clippy::too_many_arguments)]
    pub fn change(
        &self,
        catalog: &ArcSwap<Catalog>,
        layer: &str,
        fid: u64,
        who: &crate::access::Principal,
        kind: Edit,
        if_match: Option<u64>,
        body: &Json,
    ) -> Result<Applied, LiveError> {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let l = layers.get_mut(layer).ok_or(LiveError::NotFound)?;
        let action = if kind == Edit::Delete {
            EditAction::Delete
        } else {
            EditAction::Update
        };
        Self::allowed(&l.def, who, action)?;
        let old = l
            .rows
            .get(&fid)
            .filter(|r| !r.deleted)
            .cloned()
            .ok_or(LiveError::NotFound)?;
        let label = match kind {
            Edit::Replace | Edit::Patch => "update",
            Edit::Delete => "delete",
        };
        let before = row_json(fid, &old);
        if let Some(v) = if_match.filter(|v| *v != old.version) {
            let tx = db.transaction()?;
            let outcome = format!(
                "refused: stale (edited version {v}, current {})",
                old.version
            );
            let attempted = (kind != Edit::Delete).then_some(body);
            history(
                &tx,
                layer,
                fid,
                who,
                label,
                &outcome,
                Some(old.version),
                Some(&before),
                attempted,
            )?;
            tx.commit()?;
            return Err(LiveError::Stale {
                current: old.version,
            });
        }
        let version = old.version + 1;
        let old_values = Arc::clone(&old.values);
        let row = edited(l, &old, kind, body, who)?;
        let after = (kind != Edit::Delete).then(|| row_json(fid, &row));
        let tx = db.transaction()?;
        tx.execute(
            "UPDATE features SET version = ?3, geometry = ?4, properties = ?5, deleted = ?6, updated = ?7, updated_by = ?8
             WHERE layer = ?1 AND fid = ?2",
            params![layer, fid as i64, version as i64, row.geometry.to_string(), Json::Object(row.properties.clone()).to_string(), row.deleted, row.updated, row.updated_by],
        )?;
        history(
            &tx,
            layer,
            fid,
            who,
            label,
            "applied",
            Some(version),
            Some(&before),
            after.as_ref(),
        )?;
        tx.commit()?;
        let public_before = l.is_public(&old_values);
        let public_after = !row.deleted && l.is_public(&row.values);
        let change = (label, public_before, public_after);
        Ok(self.apply(catalog, l, fid, row, Some(old.bbox), change))
    }

    /// Brings back a deleted feature (admin only).
    pub fn restore(
        &self,
        catalog: &ArcSwap<Catalog>,
        layer: &str,
        fid: u64,
        who: &crate::access::Principal,
    ) -> Result<Applied, LiveError> {
        if !who.is_admin() {
            return Err(LiveError::Forbidden("restore"));
        }
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let l = layers.get_mut(layer).ok_or(LiveError::NotFound)?;
        let old = l
            .rows
            .get(&fid)
            .filter(|r| r.deleted)
            .cloned()
            .ok_or(LiveError::NotFound)?;
        let mut row = old;
        row.deleted = false;
        row.version += 1;
        row.updated = now();
        row.updated_by.clone_from(&who.name);
        let user = row.values[..l.def.fields.len()].to_vec();
        row.values = stamped(user, &row.updated, &row.updated_by);
        let after = row_json(fid, &row);
        let tx = db.transaction()?;
        tx.execute(
            "UPDATE features SET version = ?3, deleted = 0, updated = ?4, updated_by = ?5 WHERE layer = ?1 AND fid = ?2",
            params![layer, fid as i64, row.version as i64, row.updated, row.updated_by],
        )?;
        history(
            &tx,
            layer,
            fid,
            who,
            "restore",
            "applied",
            Some(row.version),
            None,
            Some(&after),
        )?;
        tx.commit()?;
        let public_after = l.is_public(&row.values);
        Ok(self.apply(catalog, l, fid, row, None, ("restore", false, public_after)))
    }

    /// The history of one feature, oldest first; `None` if the layer never had it.
    pub fn history(&self, layer: &str, fid: u64) -> Result<Option<Vec<Json>>, LiveError> {
        let inner = self.lock();
        let l = inner.layers.get(layer).ok_or(LiveError::NotFound)?;
        if !l.rows.contains_key(&fid) {
            return Ok(None);
        }
        let mut stmt = inner.db.prepare(
            "SELECT seq, at, who, action, outcome, version, before, after FROM history
             WHERE layer = ?1 AND fid = ?2 ORDER BY seq LIMIT ?3",
        )?;
        let parse = |s: Option<String>| {
            s.and_then(|s| serde_json::from_str::<Json>(&s).ok())
                .unwrap_or(Json::Null)
        };
        let rows = stmt.query_map(params![layer, fid as i64, MAX_HISTORY as i64], |r| {
            Ok(json!({
                "seq": r.get::<_, i64>(0)?,
                "time": r.get::<_, String>(1)?,
                "who": r.get::<_, String>(2)?,
                "action": r.get::<_, String>(3)?,
                "outcome": r.get::<_, String>(4)?,
                "version": r.get::<_, Option<i64>>(5)?,
                "before": parse(r.get(6)?),
                "after": parse(r.get(7)?),
            }))
        })?;
        Ok(Some(rows.collect::<Result<_, _>>()?))
    }

    /// Who last changed a feature, and when (for the staff map).
    #[must_use]
    pub fn last_change(&self, layer: &str, fid: u64) -> Option<(String, String)> {
        let inner = self.lock();
        let r = inner.layers.get(layer)?.rows.get(&fid)?;
        Some((r.updated_by.clone(), r.updated.clone()))
    }
}

/// `old` as the edit makes it, one version on.
fn edited(
    l: &LiveLayer,
    old: &Row,
    kind: Edit,
    body: &Json,
    who: &crate::access::Principal,
) -> Result<Row, LiveError> {
    let mut row = old.clone();
    row.version = old.version + 1;
    row.updated = now();
    row.updated_by.clone_from(&who.name);
    match kind {
        Edit::Delete => {
            row.deleted = true;
            let user = row.values[..l.def.fields.len()].to_vec();
            row.values = stamped(user, &row.updated, &row.updated_by);
        }
        Edit::Replace => {
            let (g, s) = feature_geometry(l, body, true)?
                .ok_or_else(|| LiveError::Invalid("a feature needs a `geometry`".into()))?;
            let (props, values) = l
                .check(&feature_properties(body)?)
                .map_err(LiveError::Invalid)?;
            set_geometry(&mut row, g, s);
            row.properties = props;
            row.values = stamped(values, &row.updated, &row.updated_by);
        }
        Edit::Patch => {
            if let Some((g, s)) = feature_geometry(l, body, false)? {
                set_geometry(&mut row, g, s);
            }
            let mut props = row.properties.clone();
            for (k, v) in feature_properties(body)? {
                props.insert(k, v);
            }
            let (props, values) = l.check(&props).map_err(LiveError::Invalid)?;
            row.properties = props;
            row.values = stamped(values, &row.updated, &row.updated_by);
        }
    }
    Ok(row)
}

/// The three kinds of change to an existing feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Replace,
    Patch,
    Delete,
}

fn same_def(a: &LayerDef, b: &LayerDef) -> bool {
    // A layer file's whole content decides the schema; its debug form covers every key.
    format!("{a:?}") == format!("{b:?}")
}

fn shape_coords(s: &Shape) -> Vec<geo::Coord<f64>> {
    match s {
        Shape::Points(p) => p.clone(),
        Shape::Lines(l) => l.iter().flat_map(|p| p.coords.iter().copied()).collect(),
        Shape::Polygons(p) => p
            .iter()
            .flat_map(|p| p.rings.iter().flatten().copied())
            .collect(),
    }
}

fn new_row(
    geometry: Json,
    properties: Map<String, Json>,
    version: u64,
    who: &crate::access::Principal,
    (shape, values): (Shape, Vec<Value>),
) -> Row {
    let bbox = PartBox::of(shape_coords(&shape).iter()).unwrap_or(PartBox {
        min: geo::Coord::default(),
        max: geo::Coord::default(),
    });
    let updated = now();
    Row {
        geometry,
        properties,
        version,
        deleted: false,
        values: stamped(values, &updated, &who.name),
        updated,
        updated_by: who.name.clone(),
        shape,
        bbox,
    }
}

fn set_geometry(row: &mut Row, geometry: Json, shape: Shape) {
    row.bbox = PartBox::of(shape_coords(&shape).iter()).unwrap_or(row.bbox);
    row.geometry = geometry;
    row.shape = shape;
}

/// The body's geometry (checked), `None` when absent and not `required`.
fn feature_geometry(
    l: &LiveLayer,
    body: &Json,
    required: bool,
) -> Result<Option<(Json, Shape)>, LiveError> {
    if body["type"] != "Feature" {
        return Err(LiveError::Invalid(
            "the body must be a GeoJSON Feature (`\"type\": \"Feature\"`)".into(),
        ));
    }
    match body.get("geometry") {
        None | Some(Json::Null) if !required => Ok(None),
        None | Some(Json::Null) => Ok(None),
        Some(g) => {
            let shape = geometry::shape(g, l.def.geometry)
                .map_err(|e| LiveError::Invalid(format!("geometry: {e}")))?;
            // Stored as served: rounded to 7 decimals, as GeoJSON output gives it back.
            Ok(Some((crate::query::geojson::geometry(&shape), shape)))
        }
    }
}

fn feature_properties(body: &Json) -> Result<Map<String, Json>, LiveError> {
    match body.get("properties") {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(m)) => Ok(m.clone()),
        Some(_) => Err(LiveError::Invalid("`properties` must be an object".into())),
    }
}

#[allow(clippy::too_many_arguments)]
fn history(
    tx: &rusqlite::Transaction<'_>,
    layer: &str,
    fid: u64,
    who: &crate::access::Principal,
    action: &str,
    outcome: &str,
    version: Option<u64>,
    before: Option<&Json>,
    after: Option<&Json>,
) -> Result<(), LiveError> {
    tx.execute(
        "INSERT INTO history(layer, fid, at, who, action, outcome, version, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            layer,
            fid as i64,
            now(),
            who.name,
            action,
            outcome,
            version.map(|v| v as i64),
            before.map(Json::to_string),
            after.map(Json::to_string)
        ],
    )?;
    Ok(())
}

fn change_of(
    l: &LiveLayer,
    fid: u64,
    action: &'static str,
    version: u64,
    public_before: bool,
    public_after: bool,
    boxes: &[PartBox],
) -> Change {
    let b = boxes
        .iter()
        .copied()
        .reduce(|a, b| a.union(&b))
        .unwrap_or(PartBox {
            min: geo::Coord::default(),
            max: geo::Coord::default(),
        });
    let (w, s) = crate::tile::mercator_to_lonlat(b.min.x, b.min.y);
    let (e, n) = crate::tile::mercator_to_lonlat(b.max.x, b.max.y);
    Change {
        layer: l.def.id.to_string(),
        fid,
        action,
        version,
        public_before,
        public_after,
        public_layer: l.def.is_public(),
        bbox: [w, s, e, n],
    }
}
