//! Live layers: features created and edited through the API, kept in an embedded
//! `SQLite` database (WAL, `synchronous=FULL`) in the state folder, or in PostgreSQL/PostGIS
//! shared by several servers (`--database`). A write is answered only once its
//! transaction is committed; the layer's new snapshot is then swapped into the catalog, so
//! every route (tiles, queries, OGC API, downloads, reports) serves it at once. With
//! PostgreSQL each server hears the others' changes (`LISTEN`/`NOTIFY`, [`LiveStore::follow`])
//! and serves them the same way.
//!
//! Every change — and every refused stale edit — is kept in `history` (who, when, before
//! → after); a delete only marks the row, so an admin can restore it.
//!
//! Schema (`meta.schema_version` = 1; a newer chizu migrates older files forward, an older
//! chizu refuses a newer file):
//! - `features(layer, fid, version, geometry, properties, deleted, updated, updated_by)`
//! - `history(seq, layer, fid, at, who, action, outcome, version, before, after)`
//!
//! In PostgreSQL the same tables are in the schema `chizu`, with `layers(layer, next_fid)`
//! and a PostGIS column `features.geom` made from the GeoJSON (for QGIS and SQL readers).
//!
//! Back up with `sqlite3 state/live.sqlite ".backup backup.sqlite"` while serving (the
//! online backup of `SQLite`), or copy the folder while chizu is stopped; in PostgreSQL
//! with `pg_dump --schema=chizu`.

mod db;
mod geometry;
pub mod sensor;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde_json::{json, Map, Value as Json};

use crate::config::{ConstValue, EditAction, LayerDef};
use crate::store::{
    Catalog, Feature, FieldDef, FieldType, LayerSnapshot, LiveFacts, PartBox, Shape, Value,
};

pub use db::Storage;
use db::{Db, Entry, Stored};
pub use geometry::MAX_VERTICES;
pub use sensor::Reading;

/// The database file inside the state folder.
pub const DB_FILE: &str = "live.sqlite";
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
    /// The connection was lost while committing: the change may or may not be stored.
    #[error("the connection to the database was lost while committing ({0}): the change may or may not be stored; read the feature again before repeating it")]
    Unknown(String),
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

/// Per row: the values its search entries were made of, and the entries.
type RowTexts = rustc_hash::FxHashMap<u64, (Arc<[Value]>, crate::store::SearchTexts)>;

struct LiveLayer {
    def: Arc<LayerDef>,
    fields: Vec<FieldDef>,
    rows: BTreeMap<u64, Row>,
    /// A sensor layer's latest reading per station.
    latest: BTreeMap<u64, Reading>,
    /// What time alone changes of each station, as last served: (age in minutes, stale).
    clock: BTreeMap<u64, (i64, bool)>,
    version: u64,
    floor: u64,
    changes: Vec<(u64, PartBox)>,
    /// Each row's search entries, and the values they were made of (an edit folds only
    /// the text of the rows it changed, not of every row of the layer). At most one per
    /// row: deleted rows stay in `rows` too, to be restored.
    search: std::sync::Mutex<RowTexts>,
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
        .chain(def.sensor.iter().flat_map(sensor_fields))
        .collect()
}

/// What a sensor layer serves of each station's latest reading (everyone who sees the
/// station sees these).
fn sensor_fields(cfg: &crate::config::SensorCfg) -> Vec<FieldDef> {
    use crate::config::{I18n, SENSOR_FIELDS};
    let unit = if cfg.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", cfg.unit)
    };
    let field = |i: usize, kind: FieldType, ja: String, en: String| FieldDef {
        name: SENSOR_FIELDS[i].into(),
        kind,
        label: Some(I18n { ja, en }),
        values: BTreeMap::new(),
        internal: false,
    };
    let mut level = field(3, FieldType::String, "水位の段階".into(), "Level".into());
    level.values.insert(
        sensor::BELOW.into(),
        I18n {
            ja: "基準値未満".into(),
            en: "Below every level".into(),
        },
    );
    for l in &cfg.levels {
        level.values.insert(l.field.clone(), l.label.clone());
    }
    vec![
        field(
            0,
            FieldType::Float,
            format!("観測値{unit}"),
            format!("Reading{unit}"),
        ),
        field(
            1,
            FieldType::String,
            "観測時刻".into(),
            "Observed at".into(),
        ),
        field(
            2,
            FieldType::Integer,
            "経過時間（分）".into(),
            "Minutes since".into(),
        ),
        level,
        field(
            4,
            FieldType::Boolean,
            "欠測（報告途絶）".into(),
            "Silent (no recent reading)".into(),
        ),
    ]
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

pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl LiveLayer {
    fn new(def: Arc<LayerDef>) -> Self {
        Self {
            fields: fields_of(&def),
            def,
            rows: BTreeMap::new(),
            latest: BTreeMap::new(),
            clock: BTreeMap::new(),
            version: 1,
            floor: 1,
            search: std::sync::Mutex::default(),
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
        let now = sensor::now_ms();
        let mut versions = rustc_hash::FxHashMap::default();
        let mut texts = self
            .search
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut search = Vec::new();
        let features: Vec<Feature> =
            self.rows
                .iter()
                .filter(|(_, r)| !r.deleted)
                .enumerate()
                .map(|(fi, (&fid, r))| {
                    versions.insert(fid, r.version);
                    let t = match texts.get(&fid) {
                        Some((made_of, t)) if Arc::ptr_eq(made_of, &r.values) => Arc::clone(t),
                        _ => {
                            let t = crate::store::search_texts(&self.def, &self.fields, &r.values);
                            texts.insert(fid, (Arc::clone(&r.values), Arc::clone(&t)));
                            t
                        }
                    };
                    search.extend(t.iter().map(|(field, folded, romaji)| {
                        crate::store::SearchEntry {
                            feature: fi as u32,
                            field: *field,
                            folded: Arc::clone(folded),
                            romaji: *romaji,
                        }
                    }));
                    let values = match &self.def.sensor {
                        None => Arc::clone(&r.values),
                        Some(cfg) => r
                            .values
                            .iter()
                            .cloned()
                            .chain(sensor::served(
                                cfg,
                                &self.fields,
                                &r.values,
                                self.latest.get(&fid),
                                now,
                            ))
                            .collect(),
                    };
                    Feature {
                        id: fid,
                        public: self.is_public(&r.values),
                        shape: r.shape.clone(),
                        bbox: r.bbox,
                        values,
                    }
                })
                .collect();
        drop(texts);
        let snap = LayerSnapshot::build_live(
            Arc::clone(&self.def),
            self.fields.clone(),
            features,
            search,
            self.version,
        );
        Arc::new(snap.with_live(LiveFacts {
            versions,
            floor: self.floor,
            changes: self.changes.clone(),
        }))
    }

    /// A stored feature as served, `None` if its geometry cannot be (counted by the caller).
    fn row_of(&self, s: Stored) -> Option<Row> {
        let geometry: Json = serde_json::from_str(&s.geometry).ok()?;
        let shape = geometry::shape(&geometry, self.def.geometry).ok()?;
        let properties: Map<String, Json> = serde_json::from_str(&s.properties).unwrap_or_default();
        let values = stamped(self.values_of(&properties), &s.updated, &s.updated_by);
        let bbox = PartBox::of(shape_coords(&shape).iter()).unwrap_or(PartBox {
            min: geo::Coord::default(),
            max: geo::Coord::default(),
        });
        Some(Row {
            geometry,
            properties,
            version: s.version,
            deleted: s.deleted,
            updated: s.updated,
            updated_by: s.updated_by,
            shape,
            bbox,
            values,
        })
    }

    /// A committed `row` of `fid` to take in: what the streams knew of it (the served row)
    /// and the boxes it covered, served and `stored` (they differ while another server's
    /// change is on its way).
    fn taken(&self, fid: u64, row: Row, stored: Option<&Row>, action: &'static str) -> Taken {
        let served = self.rows.get(&fid);
        let public_before = served.is_some_and(|r| !r.deleted && self.is_public(&r.values));
        let public_after = !row.deleted && self.is_public(&row.values);
        let mut old: Vec<PartBox> = served.map(|r| r.bbox).into_iter().collect();
        if let Some(b) = stored.map(|r| r.bbox) {
            if !old.iter().any(|o| o.min == b.min && o.max == b.max) {
                old.push(b);
            }
        }
        Taken {
            fid,
            row,
            old,
            action,
            public_before,
            public_after,
        }
    }

    /// Stations whose age (in minutes) or staleness has changed since last served, noted
    /// as served now; their boxes.
    fn clock_changes(&mut self, now: i64) -> Vec<(u64, PartBox)> {
        let Some(cfg) = self.def.sensor.clone() else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        for (fid, row) in self.rows.iter().filter(|(_, r)| !r.deleted) {
            let state = sensor::clock_state(&cfg, self.latest.get(fid), now);
            if self.clock.insert(*fid, state) != Some(state) {
                changed.push((*fid, row.bbox));
            }
        }
        changed
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
    db: Db,
    layers: BTreeMap<String, LiveLayer>,
}

/// The live layers of one root, and their database.
pub struct LiveStore {
    inner: Mutex<Inner>,
    /// The newest snapshot of each live layer, as put into the catalog: held while the
    /// catalog is swapped, so a reload never puts back an older one.
    published: Mutex<BTreeMap<String, Arc<LayerSnapshot>>>,
    events: tokio::sync::broadcast::Sender<Arc<Change>>,
    describe: String,
    /// Set when the store is dropped or the server stops: the listener ends.
    stop: std::sync::atomic::AtomicBool,
}

/// What an applied edit returns.
pub struct Applied {
    pub fid: u64,
    pub version: u64,
    pub snapshot: Arc<LayerSnapshot>,
}

/// One committed row to take into a layer.
struct Taken {
    fid: u64,
    row: Row,
    /// Boxes the feature covered before (what was served, and what was stored).
    old: Vec<PartBox>,
    action: &'static str,
    public_before: bool,
    public_after: bool,
}

impl LiveStore {
    /// Opens (creating it if needed) the database and loads the live layers of `defs`.
    /// Features whose stored properties no longer fit the layer's schema are served with
    /// null for what does not fit, and counted in the log.
    pub fn open(storage: &Storage, defs: &[Arc<LayerDef>]) -> Result<Self, LiveError> {
        let mut db = Db::open(storage)?;
        let mut layers = BTreeMap::new();
        for def in defs.iter().filter(|d| d.live.is_some()) {
            let layer = Self::read_layer(&mut db, Arc::clone(def))?;
            layers.insert(def.id.to_string(), layer);
        }
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let published = layers
            .iter()
            .map(|(id, l)| (id.clone(), l.snapshot()))
            .collect();
        Ok(Self {
            describe: db.describe(),
            inner: Mutex::new(Inner { db, layers }),
            published: Mutex::new(published),
            events,
            stop: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn read_layer(db: &mut Db, def: Arc<LayerDef>) -> Result<LiveLayer, LiveError> {
        let mut layer = LiveLayer::new(def);
        let mut unusable = 0;
        for s in db.load(layer.def.id.as_str())? {
            let fid = s.fid;
            match layer.row_of(s) {
                Some(row) => {
                    layer.rows.insert(fid, row);
                }
                None => unusable += 1,
            }
        }
        if unusable > 0 {
            tracing::error!(layer = %layer.def.id, unusable, "stored features whose geometry this layer cannot serve");
        }
        if layer.def.sensor.is_some() {
            layer.latest = db.latest_readings(layer.def.id.as_str())?;
            let _ = layer.clock_changes(sensor::now_ms());
        }
        Ok(layer)
    }

    /// Where the database is (a path, or PostgreSQL's host and database; never a password).
    #[must_use]
    pub fn describe(&self) -> &str {
        &self.describe
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
            let mut inner = self.lock();
            match Self::read_layer(&mut inner.db, Arc::clone(&def)) {
                Ok(mut layer) => {
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

    /// Whether `who` may post readings to the layer's stations (an admin, or a key with
    /// one of its sensor roles).
    #[must_use]
    pub fn may_post_readings(def: &LayerDef, who: &crate::access::Principal) -> bool {
        def.sensor
            .as_ref()
            .is_some_and(|s| who.is_admin() || s.roles.iter().any(|r| who.roles.contains(r)))
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
        db: &mut Db,
        l: &mut LiveLayer,
        row: Row,
        who: &crate::access::Principal,
        (action, public_after): (&'static str, bool),
    ) -> Result<Applied, LiveError> {
        let layer = l.def.id.as_str();
        let fid = db.write(|tx| {
            let fid = tx.next_fid(layer)?;
            let after = row_json(fid, &row);
            tx.put(layer, &stored_of(fid, &row))?;
            tx.record(&Entry {
                layer,
                fid,
                who: &who.name,
                action,
                outcome: "applied",
                version: Some(1),
                before: None,
                after: Some(&after),
            })?;
            tx.announce(layer, fid, Some(1))?;
            Ok(fid)
        })?;
        Ok(self.apply(
            catalog,
            l,
            vec![Taken {
                fid,
                row,
                old: Vec::new(),
                action,
                public_before: false,
                public_after,
            }],
        ))
    }

    /// Takes committed rows into the layer, serves the new snapshot and tells the event
    /// streams; returns what the last row became.
    fn apply(&self, catalog: &ArcSwap<Catalog>, l: &mut LiveLayer, taken: Vec<Taken>) -> Applied {
        let mut changes = Vec::with_capacity(taken.len());
        let mut last = (0, 0);
        for t in taken {
            let boxes: Vec<PartBox> = t.old.iter().copied().chain([t.row.bbox]).collect();
            last = (t.fid, t.row.version);
            l.rows.insert(t.fid, t.row);
            l.touch(&boxes);
            changes.push(change_of(
                l,
                t.fid,
                t.action,
                last.1,
                t.public_before,
                t.public_after,
                &boxes,
            ));
        }
        let snapshot = l.snapshot();
        self.publish(catalog, Arc::clone(&snapshot));
        for c in changes {
            let _ = self.events.send(Arc::new(c));
        }
        Applied {
            fid: last.0,
            version: last.1,
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
        let label = match kind {
            Edit::Replace | Edit::Patch => "update",
            Edit::Delete => "delete",
        };
        let ll: &LiveLayer = l;
        // The stored row is the truth (another server may have changed it since this one
        // heard); it stays locked until the transaction ends.
        let outcome = db.write(|tx| {
            let old = tx
                .current(layer, fid)?
                .filter(|s| !s.deleted)
                .and_then(|s| ll.row_of(s))
                .ok_or(LiveError::NotFound)?;
            let before = row_json(fid, &old);
            if let Some(v) = if_match.filter(|v| *v != old.version) {
                let outcome = format!(
                    "refused: stale (edited version {v}, current {})",
                    old.version
                );
                tx.record(&Entry {
                    layer,
                    fid,
                    who: &who.name,
                    action: label,
                    outcome: &outcome,
                    version: Some(old.version),
                    before: Some(&before),
                    after: (kind != Edit::Delete).then_some(body),
                })?;
                return Ok(Err(LiveError::Stale {
                    current: old.version,
                }));
            }
            let row = edited(ll, &old, kind, body, who)?;
            let after = (kind != Edit::Delete).then(|| row_json(fid, &row));
            tx.put(layer, &stored_of(fid, &row))?;
            tx.record(&Entry {
                layer,
                fid,
                who: &who.name,
                action: label,
                outcome: "applied",
                version: Some(row.version),
                before: Some(&before),
                after: after.as_ref(),
            })?;
            tx.announce(layer, fid, Some(row.version))?;
            Ok(Ok((old, row)))
        })?;
        let (old, row) = outcome?;
        let taken = l.taken(fid, row, Some(&old), label);
        Ok(self.apply(catalog, l, vec![taken]))
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
        let ll: &LiveLayer = l;
        let (old, row) = db.write(|tx| {
            let old = tx
                .current(layer, fid)?
                .filter(|s| s.deleted)
                .and_then(|s| ll.row_of(s))
                .ok_or(LiveError::NotFound)?;
            let mut row = old.clone();
            row.deleted = false;
            row.version += 1;
            row.updated = now();
            row.updated_by.clone_from(&who.name);
            let user = row.values[..ll.def.fields.len()].to_vec();
            row.values = stamped(user, &row.updated, &row.updated_by);
            let after = row_json(fid, &row);
            tx.put(layer, &stored_of(fid, &row))?;
            tx.record(&Entry {
                layer,
                fid,
                who: &who.name,
                action: "restore",
                outcome: "applied",
                version: Some(row.version),
                before: None,
                after: Some(&after),
            })?;
            tx.announce(layer, fid, Some(row.version))?;
            Ok((old, row))
        })?;
        let taken = l.taken(fid, row, Some(&old), "restore");
        Ok(self.apply(catalog, l, vec![taken]))
    }

    /// The history of one feature, oldest first; `None` if the layer never had it.
    pub fn history(&self, layer: &str, fid: u64) -> Result<Option<Vec<Json>>, LiveError> {
        let mut inner = self.lock();
        if !inner.layers.contains_key(layer) {
            return Err(LiveError::NotFound);
        }
        let h = inner.db.history(layer, fid, MAX_HISTORY)?;
        Ok((!h.is_empty()).then_some(h))
    }

    /// Who last changed a feature, and when (for the staff map).
    #[must_use]
    pub fn last_change(&self, layer: &str, fid: u64) -> Option<(String, String)> {
        let inner = self.lock();
        let r = inner.layers.get(layer)?.rows.get(&fid)?;
        Some((r.updated_by.clone(), r.updated.clone()))
    }

    /// `POST …/items/{fid}/readings` (a key with one of the layer's sensor roles): one
    /// reading or a batch, stored durably (a reading at a time already stored replaces
    /// it: a sensor may send again); the station then serves the latest.
    pub fn add_readings(
        &self,
        catalog: &ArcSwap<Catalog>,
        layer: &str,
        fid: u64,
        who: &crate::access::Principal,
        body: &Json,
    ) -> Result<(usize, Option<Reading>), LiveError> {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let l = layers.get_mut(layer).ok_or(LiveError::NotFound)?;
        if l.def.sensor.is_none() {
            return Err(LiveError::NotFound);
        }
        if !Self::may_post_readings(&l.def, who) {
            return Err(LiveError::Forbidden("post readings for"));
        }
        let readings = sensor::parse(body, sensor::now_ms())?;
        db.write(|tx| {
            tx.current(layer, fid)?
                .filter(|s| !s.deleted)
                .ok_or(LiveError::NotFound)?;
            tx.add_readings(layer, fid, &readings)?;
            tx.announce(layer, fid, None)
        })?;
        let newest = readings
            .iter()
            .max_by_key(|r| r.ms)
            .cloned()
            .filter(|n| l.latest.get(&fid).is_none_or(|have| n.ms >= have.ms));
        if let Some(n) = newest {
            l.latest.insert(fid, n);
            self.reading_taken(catalog, l, fid);
        }
        Ok((readings.len(), l.latest.get(&fid).cloned()))
    }

    /// Serves a station's new latest reading.
    fn reading_taken(&self, catalog: &ArcSwap<Catalog>, l: &mut LiveLayer, fid: u64) {
        let Some(row) = l.rows.get(&fid).filter(|r| !r.deleted) else {
            return;
        };
        let bbox = row.bbox;
        let public = l.is_public(&row.values);
        let version = row.version;
        if let Some(cfg) = &l.def.sensor {
            let state = sensor::clock_state(cfg, l.latest.get(&fid), sensor::now_ms());
            l.clock.insert(fid, state);
        }
        l.touch(&[bbox]);
        let change = change_of(l, fid, "reading", version, public, public, &[bbox]);
        self.publish(catalog, l.snapshot());
        let _ = self.events.send(Arc::new(change));
    }

    /// A station's readings from `from` to `to` (RFC 3339, either open), oldest first, at
    /// most `limit`.
    pub fn readings(
        &self,
        layer: &str,
        fid: u64,
        from: Option<&str>,
        to: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Reading>, LiveError> {
        let bound = |s: Option<&str>, what: &str| {
            s.map(|s| {
                sensor::parse_time(s)
                    .map(|t| sensor::stored_time(&t))
                    .ok_or_else(|| LiveError::Invalid(format!("`{what}` must be an RFC 3339 time")))
            })
            .transpose()
        };
        let (from, to) = (bound(from, "from")?, bound(to, "to")?);
        let mut inner = self.lock();
        if inner
            .layers
            .get(layer)
            .is_none_or(|l| l.def.sensor.is_none())
        {
            return Err(LiveError::NotFound);
        }
        inner
            .db
            .series(layer, fid, from.as_deref(), to.as_deref(), limit)
    }

    /// Serves what time alone has changed of the sensor layers' stations (a minute more
    /// since the last reading; silent past the interval). Called every second.
    pub fn tick(&self, catalog: &ArcSwap<Catalog>) {
        let now = sensor::now_ms();
        let mut inner = self.lock();
        for l in inner.layers.values_mut() {
            let changed = l.clock_changes(now);
            if changed.is_empty() {
                continue;
            }
            let boxes: Vec<PartBox> = changed.iter().map(|(_, b)| *b).collect();
            l.touch(&boxes);
            self.publish(catalog, l.snapshot());
            for (fid, b) in changed {
                let Some(r) = l.rows.get(&fid) else { continue };
                let public = l.is_public(&r.values);
                let change = change_of(l, fid, "reading", r.version, public, public, &[b]);
                let _ = self.events.send(Arc::new(change));
            }
        }
    }

    /// Takes another server's new reading of a station.
    fn take_remote_reading(&self, catalog: &ArcSwap<Catalog>, layer: &str, fid: u64) {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let Some(l) = layers.get_mut(layer).filter(|l| l.def.sensor.is_some()) else {
            return;
        };
        match db.series(layer, fid, None, None, 1) {
            Ok(mut v) => {
                let Some(n) = v.pop() else { return };
                if l.latest.get(&fid).is_some_and(|have| have.ms >= n.ms) {
                    return;
                }
                l.latest.insert(fid, n);
                self.reading_taken(catalog, l, fid);
            }
            Err(e) => tracing::warn!(layer, fid, "cannot read an announced reading: {e}"),
        }
    }

    /// Takes another server's change of one feature (announced as `version`), if this
    /// server has not got it yet.
    fn take_remote(&self, catalog: &ArcSwap<Catalog>, layer: &str, fid: u64, version: u64) {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let Some(l) = layers.get_mut(layer) else {
            return;
        };
        if l.rows.get(&fid).is_some_and(|r| r.version >= version) {
            return;
        }
        match db.load_one(layer, fid) {
            Ok(Some(s)) => {
                let Some(row) = l.row_of(s) else { return };
                if l.rows.get(&fid).is_some_and(|r| r.version >= row.version) {
                    return;
                }
                let label = remote_action(l.rows.get(&fid), &row);
                let taken = l.taken(fid, row, None, label);
                self.apply(catalog, l, vec![taken]);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(layer, fid, "cannot read an announced change: {e}"),
        }
    }

    /// Takes every stored change this server has not got (after the listener connects:
    /// what was announced while it was not listening).
    fn catch_up(&self, catalog: &ArcSwap<Catalog>) -> Result<usize, LiveError> {
        let mut inner = self.lock();
        let Inner { db, layers } = &mut *inner;
        let mut n = 0;
        for (id, l) in layers.iter_mut() {
            let mut taken = Vec::new();
            for s in db.load(id)? {
                if l.rows.get(&s.fid).is_some_and(|r| r.version >= s.version) {
                    continue;
                }
                let fid = s.fid;
                if let Some(row) = l.row_of(s) {
                    let label = remote_action(l.rows.get(&fid), &row);
                    taken.push(l.taken(fid, row, None, label));
                }
            }
            if l.def.sensor.is_some() {
                let latest = db.latest_readings(id)?;
                let moved: Vec<u64> = latest
                    .iter()
                    .filter(|(fid, r)| l.latest.get(fid) != Some(r))
                    .map(|(fid, _)| *fid)
                    .collect();
                l.latest = latest;
                let boxes: Vec<PartBox> = moved
                    .iter()
                    .filter_map(|fid| l.rows.get(fid).map(|r| r.bbox))
                    .collect();
                if !boxes.is_empty() {
                    let _ = l.clock_changes(sensor::now_ms());
                    l.touch(&boxes);
                    if taken.is_empty() {
                        self.publish(catalog, l.snapshot());
                    }
                }
            }
            if !taken.is_empty() {
                n += taken.len();
                self.apply(catalog, l, taken);
            }
        }
        Ok(n)
    }

    /// With PostgreSQL: listens for the other servers' changes and serves each within
    /// moments (`LISTEN chizu_live`); on a lost connection, connects again (backing off
    /// to 10 s) and catches up on what it missed. Returns at once for `SQLite`, and when
    /// [`LiveStore::stop`] is called.
    pub fn follow(&self, catalog: &ArcSwap<Catalog>) {
        use std::sync::atomic::Ordering;
        let config = {
            let inner = self.lock();
            match inner.db.pg_config() {
                Some(c) => c.clone(),
                None => return,
            }
        };
        let mut wait = std::time::Duration::from_millis(100);
        while !self.stop.load(Ordering::Relaxed) {
            let mut client = match db::pg_connect(&config).and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {}", db::CHANNEL))
                    .map_err(|e| LiveError::Storage(db::pg_message(&e)))?;
                Ok(c)
            }) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(
                        "live changes of other servers not heard: {e}; trying again in {wait:?}"
                    );
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
            };
            match self.catch_up(catalog) {
                Ok(0) => {}
                Ok(n) => tracing::info!(changes = n, "live layers caught up with the database"),
                Err(e) => {
                    // Listening without having caught up could miss a change for good.
                    tracing::warn!("live layers not caught up: {e}; trying again in {wait:?}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
            }
            wait = std::time::Duration::from_millis(100);
            while !self.stop.load(Ordering::Relaxed) {
                let next = {
                    use postgres::fallible_iterator::FallibleIterator;
                    client
                        .notifications()
                        .timeout_iter(std::time::Duration::from_millis(500))
                        .next()
                };
                match next {
                    Ok(Some(n)) => {
                        let mut parts = n.payload().split(' ');
                        let (Some(layer), Some(fid), Some(version)) =
                            (parts.next(), parts.next(), parts.next())
                        else {
                            continue;
                        };
                        // This server's own changes too (already served, so skipped at
                        // once), and one whose commit was not confirmed is served once
                        // the database has it.
                        match (fid.parse(), version) {
                            (Ok(fid), "r") => self.take_remote_reading(catalog, layer, fid),
                            (Ok(fid), v) => {
                                if let Ok(v) = v.parse() {
                                    self.take_remote(catalog, layer, fid, v);
                                }
                            }
                            _ => {}
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            "lost the database's change notices: {}",
                            db::pg_message(&e)
                        );
                        break;
                    }
                    Ok(None) if client.is_closed() => {
                        tracing::warn!("lost the database's change notices: connection closed");
                        break;
                    }
                    Ok(None) => {}
                }
            }
        }
    }

    /// Ends [`LiveStore::follow`].
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
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

/// A row as the database stores it.
fn stored_of(fid: u64, row: &Row) -> Stored {
    Stored {
        fid,
        version: row.version,
        geometry: row.geometry.to_string(),
        properties: Json::Object(row.properties.clone()).to_string(),
        deleted: row.deleted,
        updated: row.updated.clone(),
        updated_by: row.updated_by.clone(),
    }
}

/// What another server's change did, as the event streams tell it.
fn remote_action(served: Option<&Row>, row: &Row) -> &'static str {
    match served {
        _ if row.deleted => "delete",
        None => "create",
        Some(r) if r.deleted => "restore",
        Some(_) => "update",
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
