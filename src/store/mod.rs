//! The in-memory layer store: per layer an immutable [`LayerSnapshot`] (features in Web
//! Mercator, attributes, an R-tree over geometry parts, bounds, field schema), and a
//! [`Catalog`] that holds them behind one `Arc` so a reload can swap it atomically.
//!
//! Nothing here mutates a snapshot after it is built, and nothing here knows about GDAL or HTTP.

pub mod generalise;
pub mod size;
mod value;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use geo::Coord;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

pub use size::{SizeAtZoom, SizeRules};
pub use value::{FieldType, Value};

use crate::config::LayerDef;
use crate::ingest::IngestReport;

/// An axis-aligned box in EPSG:3857 metres, for a part or a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartBox {
    pub min: Coord<f64>,
    pub max: Coord<f64>,
}

impl PartBox {
    /// The bounding box of some coordinates, `None` if there are none.
    #[must_use]
    pub fn of<'a>(coords: impl IntoIterator<Item = &'a Coord<f64>>) -> Option<Self> {
        let mut it = coords.into_iter();
        let first = *it.next()?;
        let mut b = Self {
            min: first,
            max: first,
        };
        for c in it {
            b.min.x = b.min.x.min(c.x);
            b.min.y = b.min.y.min(c.y);
            b.max.x = b.max.x.max(c.x);
            b.max.y = b.max.y.max(c.y);
        }
        Some(b)
    }

    #[must_use]
    pub fn union(&self, o: &Self) -> Self {
        Self {
            min: Coord {
                x: self.min.x.min(o.min.x),
                y: self.min.y.min(o.min.y),
            },
            max: Coord {
                x: self.max.x.max(o.max.x),
                y: self.max.y.max(o.max.y),
            },
        }
    }

    /// Whether this box lies entirely inside `o`.
    #[must_use]
    pub fn within(&self, o: &Self) -> bool {
        self.min.x >= o.min.x
            && self.min.y >= o.min.y
            && self.max.x <= o.max.x
            && self.max.y <= o.max.y
    }

    #[must_use]
    pub fn aabb(&self) -> AABB<[f64; 2]> {
        AABB::from_corners([self.min.x, self.min.y], [self.max.x, self.max.y])
    }
}

/// One line part.
#[derive(Debug, Clone)]
pub struct LinePart {
    pub bbox: PartBox,
    pub coords: Vec<Coord<f64>>,
    /// Per vertex, the Douglas–Peucker tolerance in metres up to which it is kept.
    pub importance: Box<[f32]>,
}

impl LinePart {
    /// A part with its box and per-vertex importance; `None` without coordinates.
    #[must_use]
    pub fn new(coords: Vec<Coord<f64>>) -> Option<Self> {
        Some(Self {
            bbox: PartBox::of(&coords)?,
            importance: generalise::importance(&coords),
            coords,
        })
    }

    /// A part from coordinates whose importance is already known (a filtered copy).
    #[must_use]
    pub fn with_importance(coords: Vec<Coord<f64>>, importance: Vec<f32>) -> Self {
        let bbox = PartBox::of(&coords).unwrap_or(PartBox {
            min: Coord::default(),
            max: Coord::default(),
        });
        Self {
            bbox,
            coords,
            importance: importance.into(),
        }
    }
}

/// One polygon part: closed rings, exterior first.
#[derive(Debug, Clone)]
pub struct PolygonPart {
    /// Covers every ring, holes included (tile cutting skips clipping on its word).
    pub bbox: PartBox,
    pub rings: Vec<Vec<Coord<f64>>>,
    /// Per ring and vertex, the Douglas–Peucker tolerance in metres up to which it is kept.
    pub importance: Vec<Box<[f32]>>,
}

impl PolygonPart {
    /// The part as a `geo` polygon (exterior, then holes), for overlays and predicates.
    #[must_use]
    pub fn to_polygon(&self) -> Option<geo::Polygon<f64>> {
        let mut rings = self.rings.iter().map(|r| geo::LineString(r.clone()));
        let ext = rings.next()?;
        Some(geo::Polygon::new(ext, rings.collect()))
    }

    /// Area in square metres (of Web Mercator): the exterior less its holes.
    #[must_use]
    pub fn area(&self) -> f64 {
        // Relative to the first vertex: Mercator metres are large, building areas small.
        let ring = |r: &Vec<Coord<f64>>| {
            let o = r.first().copied().unwrap_or_default();
            r.windows(2)
                .map(|w| (w[0].x - o.x) * (w[1].y - o.y) - (w[1].x - o.x) * (w[0].y - o.y))
                .sum::<f64>()
                .abs()
                / 2.0
        };
        let mut rings = self.rings.iter();
        let outer = rings.next().map_or(0.0, ring);
        (outer - rings.map(ring).sum::<f64>()).max(0.0)
    }

    /// A part with a box over every ring (a hole is meant to lie inside its shell, but a
    /// repaired polygon is no proof of that) and per-vertex importance; `None` without
    /// coordinates.
    #[must_use]
    pub fn new(rings: Vec<Vec<Coord<f64>>>) -> Option<Self> {
        Some(Self {
            bbox: PartBox::of(rings.iter().flatten())?,
            importance: rings.iter().map(|r| generalise::importance(r)).collect(),
            rings,
        })
    }

    /// A part from rings whose importance is already known (a filtered copy); `None`
    /// without coordinates.
    #[must_use]
    pub fn with_importance(rings: Vec<Vec<Coord<f64>>>, importance: Vec<Vec<f32>>) -> Option<Self> {
        Some(Self {
            bbox: PartBox::of(rings.iter().flatten())?,
            importance: importance.into_iter().map(Into::into).collect(),
            rings,
        })
    }
}

/// A feature's geometry in EPSG:3857, split into parts that are indexed one by one so a
/// tile touches only the squares of a 3,000-square flood polygon that fall inside it.
#[derive(Debug, Clone)]
pub enum Shape {
    Points(Vec<Coord<f64>>),
    Lines(Vec<LinePart>),
    Polygons(Vec<PolygonPart>),
}

impl Shape {
    /// Bounding box of each part, in part order.
    #[must_use]
    pub fn part_boxes(&self) -> Vec<PartBox> {
        match self {
            Shape::Points(p) => p.iter().map(|c| PartBox { min: *c, max: *c }).collect(),
            Shape::Lines(l) => l.iter().map(|p| p.bbox).collect(),
            Shape::Polygons(p) => p.iter().map(|p| p.bbox).collect(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Shape::Points(p) => p.is_empty(),
            Shape::Lines(l) => l.is_empty(),
            Shape::Polygons(p) => p.is_empty(),
        }
    }

    /// Number of vertices, for reports and budgets.
    #[must_use]
    pub fn vertex_count(&self) -> usize {
        match self {
            Shape::Points(p) => p.len(),
            Shape::Lines(l) => l.iter().map(|p| p.coords.len()).sum(),
            Shape::Polygons(p) => p.iter().flat_map(|p| p.rings.iter()).map(Vec::len).sum(),
        }
    }
}

/// One feature: a stable id, its geometry, attribute values aligned with the layer schema.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Unique within the layer: the source file's position in the layer times 2^32 plus its FID.
    pub id: u64,
    pub shape: Shape,
    pub bbox: PartBox,
    pub values: Arc<[Value]>,
    /// Whether the layer's public filter lets this feature into the public view.
    pub public: bool,
}

/// Attribute rows shared among a layer's features: many features carry the same values
/// (a zone's type and its 告示, a road's class), and each row held once is an allocation
/// saved per feature. Gives up (copies every row) once most rows turn out distinct, so a
/// layer with an id per feature does not pay for a set as large as itself.
#[derive(Default)]
struct Rows {
    seen: rustc_hash::FxHashSet<Row>,
    asked: usize,
    given_up: bool,
}

impl Rows {
    /// Most distinct rows kept for sharing before giving up, if they are over half of those asked.
    const TRIAL: usize = 4_096;

    /// A copy of `values` (one allocation, made in the order asked), or the equal row already
    /// given.
    fn share(&mut self, values: &Arc<[Value]>) -> Arc<[Value]> {
        let fresh = || values.iter().cloned().collect::<Arc<[Value]>>();
        if self.given_up {
            return fresh();
        }
        self.asked += 1;
        if let Some(r) = self.seen.get(&Row(Arc::clone(values))) {
            return Arc::clone(&r.0);
        }
        let copy = fresh();
        self.seen.insert(Row(Arc::clone(&copy)));
        if self.seen.len() >= Self::TRIAL && self.seen.len() * 2 > self.asked {
            self.given_up = true;
            self.seen = rustc_hash::FxHashSet::default();
        }
        copy
    }
}

/// A row compared value by value, floats by their bits (so NaN equals itself).
struct Row(Arc<[Value]>);

impl PartialEq for Row {
    fn eq(&self, o: &Self) -> bool {
        self.0.len() == o.0.len()
            && self.0.iter().zip(o.0.iter()).all(|(a, b)| match (a, b) {
                (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
                _ => a == b,
            })
    }
}

impl Eq for Row {}

impl std::hash::Hash for Row {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for v in self.0.iter() {
            match v {
                Value::Null => 0u8.hash(h),
                Value::Bool(b) => (1u8, b).hash(h),
                Value::Int(i) => (2u8, i).hash(h),
                Value::Float(x) => (3u8, x.to_bits()).hash(h),
                Value::Str(s) => (4u8, s).hash(h),
            }
        }
    }
}

/// One attribute of a layer as served.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldDef {
    /// Output name (after renaming).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// ja/en display label, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<crate::config::I18n>,
    /// Code → ja/en label, for coded fields.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, crate::config::I18n>,
    /// Only callers of the internal view with the layer's roles see it.
    #[serde(skip)]
    pub internal: bool,
}

/// A searchable name: a feature's value in one of the layer's `search` fields, folded.
#[derive(Debug, Clone)]
pub struct SearchEntry {
    pub feature: u32,
    pub field: u32,
    pub folded: Arc<str>,
    /// Whether `folded` is the rōmaji key of a kana reading (matched by Latin queries).
    pub romaji: bool,
}

/// Where a layer went over its per-tile budget, as tiles are cut (for TileJSON and `check`).
/// Trims of tiles cut for the public view are also kept apart, so the public TileJSON
/// never tells of trims that only features hidden from the public caused.
#[derive(Debug, Default)]
pub struct BudgetLog {
    /// Bit `z` set when a tile at zoom `z` was trimmed: any view, and the public view.
    zooms: AtomicU32,
    public_zooms: AtomicU32,
    tiles: AtomicU64,
    dropped: AtomicU64,
}

impl BudgetLog {
    /// One tile at zoom `z`, cut for the public view or not, lost `dropped` features.
    pub fn record(&self, z: u8, dropped: usize, public: bool) {
        let bit = 1 << u32::from(z.min(31));
        self.zooms.fetch_or(bit, Ordering::Relaxed);
        if public {
            self.public_zooms.fetch_or(bit, Ordering::Relaxed);
        }
        self.tiles.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
    }

    /// Zooms at which some tile was trimmed (for the public view only, if `public`),
    /// ascending.
    #[must_use]
    pub fn zooms(&self, public: bool) -> Vec<u8> {
        let bits = if public {
            self.public_zooms.load(Ordering::Relaxed)
        } else {
            self.zooms.load(Ordering::Relaxed)
        };
        (0..32u8).filter(|z| bits & (1 << z) != 0).collect()
    }

    /// Tiles trimmed and features dropped so far, for every view.
    #[must_use]
    pub fn totals(&self) -> (u64, u64) {
        (
            self.tiles.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// An R-tree entry: one part of one feature.
pub type PartEntry = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// One low zoom's overview of a layer (see `tile::overview`).
#[derive(Debug, Default)]
pub enum OverviewSlot {
    /// Not built yet, or released.
    #[default]
    Unbuilt,
    /// Built and found not worth its memory: the layer itself is cut.
    NotWorth,
    Built(Arc<LayerSnapshot>),
}

/// A layer as loaded: immutable, shared as `Arc`, replaced whole on reload.
#[derive(Debug)]
pub struct LayerSnapshot {
    pub def: Arc<LayerDef>,
    pub fields: Vec<FieldDef>,
    pub features: Vec<Feature>,
    pub index: RTree<PartEntry>,
    /// Union of feature boxes in EPSG:3857; `None` for an empty layer.
    pub bounds: Option<PartBox>,
    pub report: IngestReport,
    /// Increases with every load of this layer in the process.
    pub version: u64,
    /// Folded names for `/search`, from the layer's `search` fields.
    pub search: Vec<SearchEntry>,
    /// Tiles of this snapshot trimmed to the layer's budget so far.
    pub budget: BudgetLog,
    /// Per low zoom, the layer generalised for it (built on first use by `tile::overview`,
    /// released by [`Self::release_overview`]).
    pub overviews: [std::sync::Mutex<OverviewSlot>; 13],
    /// Per zoom, features the size rules take out of tiles (empty for overviews).
    pub size_rules: SizeRules,
    /// Features the public view sees (all, without a `public_filter`).
    pub public_count: usize,
    /// Union of the boxes of those features: hidden features never widen public bounds.
    pub public_bounds: Option<PartBox>,
    /// Per field, the codes of its `values` table that occur among public features: the
    /// label of a class only hidden features have is never shown publicly.
    public_codes: Vec<Option<std::collections::BTreeSet<String>>>,
    /// For a live layer: its features' versions and which areas changed when.
    pub live: Option<Arc<LiveFacts>>,
}

/// What a live layer's snapshot knows beyond its features: each feature's version (its
/// ETag) and the boxes recent changes touched, so a change makes only the tiles over
/// those boxes new (see [`LayerSnapshot::tile_version`]).
#[derive(Debug, Default)]
pub struct LiveFacts {
    /// Feature id → version.
    pub versions: rustc_hash::FxHashMap<u64, u64>,
    /// Tiles no listed change touches have this version.
    pub floor: u64,
    /// `(layer version, box in EPSG:3857)` of each change since `floor`, oldest first:
    /// old and new geometry alike.
    pub changes: Vec<(u64, PartBox)>,
}

impl LayerSnapshot {
    /// Builds the index and bounds over already-ingested features.
    ///
    /// Features are put in Hilbert-curve order of their box centres, and their geometry
    /// is re-allocated in that order, so the features of one tile sit together in memory:
    /// cache misses on randomly scattered features were the largest single cost when
    /// cutting the benchmark city.
    #[must_use]
    pub fn build(
        def: Arc<LayerDef>,
        fields: Vec<FieldDef>,
        mut features: Vec<Feature>,
        report: IngestReport,
        version: u64,
    ) -> Self {
        let bounds = features.iter().map(|f| f.bbox).reduce(|a, b| a.union(&b));
        if let Some(b) = bounds {
            features.sort_by_cached_key(|f| hilbert_key(&b, &f.bbox));
            // Each old feature is dropped as its copy is made, so the layer is not held
            // twice; equal attribute rows are shared.
            let mut rows = Rows::default();
            features = features
                .into_iter()
                .map(|f| {
                    let values = rows.share(&f.values);
                    Feature {
                        shape: f.shape.clone(),
                        values,
                        ..f
                    }
                })
                .collect();
        }
        let search = search_entries(&def, &fields, &features);
        Self::counted(def, fields, features, bounds, report, version, search)
    }

    /// The index, size rules and public facts over features in their final order.
    fn counted(
        def: Arc<LayerDef>,
        fields: Vec<FieldDef>,
        features: Vec<Feature>,
        bounds: Option<PartBox>,
        report: IngestReport,
        version: u64,
        search: Vec<SearchEntry>,
    ) -> Self {
        let size_rules = SizeRules::count(&features, def.tiny_area);
        Self {
            size_rules,
            ..Self::indexed(def, fields, features, bounds, report, version, search)
        }
        .with_public_facts()
    }

    /// A live layer's snapshot, rebuilt on every edit: its features in the order given
    /// (no Hilbert sort and no second copy — a few thousand features fit in cache anyway,
    /// and the rebuild is the edit's main cost), values shared with the store.
    #[must_use]
    pub fn build_live(
        def: Arc<LayerDef>,
        fields: Vec<FieldDef>,
        features: Vec<Feature>,
        search: Vec<SearchEntry>,
        version: u64,
    ) -> Self {
        let bounds = features.iter().map(|f| f.bbox).reduce(|a, b| a.union(&b));
        Self::counted(
            def,
            fields,
            features,
            bounds,
            IngestReport::default(),
            version,
            search,
        )
    }

    /// A snapshot of features already in Hilbert order and freshly allocated in it (an
    /// overview made from a built layer): no re-sorting, no second copy, values shared.
    #[must_use]
    pub fn build_ordered(
        def: Arc<LayerDef>,
        fields: Vec<FieldDef>,
        features: Vec<Feature>,
        version: u64,
    ) -> Self {
        let bounds = features.iter().map(|f| f.bbox).reduce(|a, b| a.union(&b));
        let search = search_entries(&def, &fields, &features);
        Self::indexed(
            def,
            fields,
            features,
            bounds,
            IngestReport::default(),
            version,
            search,
        )
    }

    /// The R-tree over the features' parts, with their search entries.
    fn indexed(
        def: Arc<LayerDef>,
        fields: Vec<FieldDef>,
        features: Vec<Feature>,
        bounds: Option<PartBox>,
        report: IngestReport,
        version: u64,
        search: Vec<SearchEntry>,
    ) -> Self {
        let mut entries = Vec::new();
        for (fi, f) in features.iter().enumerate() {
            for (pi, b) in f.shape.part_boxes().into_iter().enumerate() {
                entries.push(GeomWithData::new(
                    Rectangle::from_corners([b.min.x, b.min.y], [b.max.x, b.max.y]),
                    (fi as u32, pi as u32),
                ));
            }
        }
        Self {
            def,
            fields,
            features,
            index: RTree::bulk_load(entries),
            bounds,
            report,
            version,
            search,
            budget: BudgetLog::default(),
            overviews: Default::default(),
            size_rules: SizeRules::default(),
            public_count: 0,
            public_bounds: None,
            public_codes: Vec::new(),
            live: None,
        }
    }

    /// Lets go of the overview of zoom `z` (tiles being cut from it keep it until they are
    /// done); the next tile of that zoom builds it again. Export releases each zoom's once
    /// the zoom is written.
    pub fn release_overview(&self, z: u8) {
        if let Some(slot) = self.overviews.get(usize::from(z)) {
            *slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = OverviewSlot::Unbuilt;
        }
    }

    /// The snapshot of a live layer, with its facts.
    #[must_use]
    pub fn with_live(mut self, facts: LiveFacts) -> Self {
        self.live = Some(Arc::new(facts));
        self
    }

    /// The version a tile of this layer at `coord` is cached under. A file layer has one
    /// version; a live layer's tile keeps the version of the last change that touched it
    /// (the tile with its buffer), so a change makes new only the tiles over its old and
    /// new geometry, at every zoom, and every other cached tile stays good.
    #[must_use]
    pub fn tile_version(&self, coord: crate::tile::TileCoord) -> u64 {
        let Some(live) = &self.live else {
            return self.version;
        };
        let b = coord.bounds();
        let margin = b.width() * f64::from(self.def.buffer) / 4096.0;
        let b = b.expand(margin);
        let tile = PartBox {
            min: Coord {
                x: b.min_x,
                y: b.min_y,
            },
            max: Coord {
                x: b.max_x,
                y: b.max_y,
            },
        };
        live.changes
            .iter()
            .rev()
            .find(|(_, c)| {
                c.min.x <= tile.max.x
                    && c.max.x >= tile.min.x
                    && c.min.y <= tile.max.y
                    && c.max.y >= tile.min.y
            })
            .map_or(live.floor, |(v, _)| *v)
    }

    /// `(feature, part)` indices of the parts intersecting `area`, sorted, so the parts of
    /// one feature are adjacent.
    #[must_use]
    pub fn parts_in(&self, area: &PartBox) -> Vec<(u32, u32)> {
        let mut hits: Vec<(u32, u32)> = self
            .index
            .locate_in_envelope_intersecting(&area.aabb())
            .map(|e| e.data)
            .collect();
        hits.sort_unstable();
        hits
    }

    /// Index of an output field by name.
    #[must_use]
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// What the public view may know: its count, bounds and code tables.
    fn with_public_facts(mut self) -> Self {
        let public: Vec<&Feature> = self.features.iter().filter(|f| f.public).collect();
        self.public_count = public.len();
        self.public_bounds = public.iter().map(|f| f.bbox).reduce(|a, b| a.union(&b));
        self.public_codes = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, fd)| {
                (self.def.public_filter.is_some() && !fd.values.is_empty()).then(|| {
                    // The few codes of the list, found without making a string per
                    // feature (a live layer's snapshot is rebuilt on every edit).
                    let mut codes = std::collections::BTreeSet::new();
                    for f in &public {
                        let code = match &f.values[i] {
                            Value::Str(s) => fd.values.get_key_value(&**s),
                            Value::Null => None,
                            other => other.key().and_then(|k| fd.values.get_key_value(&k)),
                        };
                        if let Some((k, _)) = code.filter(|(k, _)| !codes.contains(*k)) {
                            codes.insert(k.clone());
                        }
                    }
                    codes
                })
            })
            .collect();
        self
    }

    /// Features the view sees (`public`: the public view).
    #[must_use]
    pub fn count_for(&self, public: bool) -> usize {
        if public {
            self.public_count
        } else {
            self.features.len()
        }
    }

    /// The id a view knows a feature by. Where a `public_filter` hides features, the
    /// public view gets ids that reveal nothing about them (no gaps to count): a keyed
    /// hash of the feature's own id, stable across loads, within JavaScript's safe range.
    #[must_use]
    pub fn served_id(&self, f: &Feature, public: bool) -> u64 {
        self.served_id_of(f.id, public)
    }

    /// [`Self::served_id`] from a feature's own id.
    #[must_use]
    pub fn served_id_of(&self, id: u64, public: bool) -> u64 {
        if public && self.def.public_filter.is_some() {
            let seed = xxhash_rust::xxh3::xxh3_64(self.def.id.as_str().as_bytes());
            xxhash_rust::xxh3::xxh3_64_with_seed(&id.to_le_bytes(), seed) & ((1 << 53) - 1)
        } else {
            id
        }
    }

    /// The code → label table of field `i` as the view may see it.
    #[must_use]
    pub fn values_for(&self, i: usize, public: bool) -> BTreeMap<String, crate::config::I18n> {
        let all = &self.fields[i].values;
        match self.public_codes.get(i) {
            Some(Some(codes)) if public => all
                .iter()
                .filter(|(k, _)| codes.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => all.clone(),
        }
    }

    /// Bounds of what the view sees, as WGS84 `[west, south, east, north]`.
    #[must_use]
    pub fn lonlat_bounds_for(&self, public: bool) -> Option<[f64; 4]> {
        let b = if public {
            self.public_bounds
        } else {
            self.bounds
        }?;
        let (w, s) = crate::tile::mercator_to_lonlat(b.min.x, b.min.y);
        let (e, n) = crate::tile::mercator_to_lonlat(b.max.x, b.max.y);
        Some([w, s, e, n])
    }

    /// Layer bounds as WGS84 `[west, south, east, north]`.
    #[must_use]
    pub fn lonlat_bounds(&self) -> Option<[f64; 4]> {
        let b = self.bounds?;
        let (w, s) = crate::tile::mercator_to_lonlat(b.min.x, b.min.y);
        let (e, n) = crate::tile::mercator_to_lonlat(b.max.x, b.max.y);
        Some([w, s, e, n])
    }
}

/// Folded names of the layer's `search` fields, for `/search`.
fn search_entries(def: &LayerDef, fields: &[FieldDef], features: &[Feature]) -> Vec<SearchEntry> {
    let search_fields = search_fields(def, fields);
    let mut out = Vec::new();
    for (fi, f) in features.iter().enumerate() {
        for (field, folded, romaji) in texts_of(fields, &search_fields, &f.values) {
            out.push(SearchEntry {
                feature: fi as u32,
                field,
                folded,
                romaji,
            });
        }
    }
    out
}

/// Indexes of the layer's search fields in `fields`.
fn search_fields(def: &LayerDef, fields: &[FieldDef]) -> Vec<usize> {
    def.search
        .iter()
        .filter_map(|n| fields.iter().position(|f| f.name == *n))
        .collect()
}

/// One feature's search entries without its position: field, folded text, whether the
/// text is a rōmaji key (see [`SearchEntry`]).
pub type SearchTexts = Arc<[(u32, Arc<str>, bool)]>;

/// The search entries of one feature's `values` (a live layer keeps them per row, so an
/// edit does not fold every feature's text again).
#[must_use]
pub fn search_texts(def: &LayerDef, fields: &[FieldDef], values: &[Value]) -> SearchTexts {
    texts_of(fields, &search_fields(def, fields), values).into()
}

fn texts_of(
    fields: &[FieldDef],
    search_fields: &[usize],
    values: &[Value],
) -> Vec<(u32, Arc<str>, bool)> {
    let mut out = Vec::new();
    for &field in search_fields {
        let Some(text) = values.get(field).and_then(Value::key) else {
            continue;
        };
        let folded = crate::query::search::fold(&text);
        if folded.is_empty() {
            continue;
        }
        let field32 = field as u32;
        // A kana reading is also found by its rōmaji ("honmachi" → ほんまち).
        if let Some(r) = crate::query::romaji::from_kana(&folded) {
            out.push((field32, crate::query::romaji::key(&r).into(), true));
        }
        // Configured names of the value (its English label) are found too.
        if let Some(en) = fields[field]
            .values
            .get(text.as_str())
            .map(|l| crate::query::search::fold(&l.en))
            .filter(|en| !en.is_empty() && *en != folded)
        {
            out.push((field32, en.into(), false));
        }
        out.push((field32, folded.into(), false));
    }
    out
}

/// Position of a box's centre on a 2^16 × 2^16 Hilbert curve over `extent`.
fn hilbert_key(extent: &PartBox, b: &PartBox) -> u64 {
    const N: u32 = 1 << 16;
    let scale = |v: f64, lo: f64, hi: f64| -> u32 {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        ((t * f64::from(N - 1)).round() as u32).min(N - 1)
    };
    let mut x = scale(f64::midpoint(b.min.x, b.max.x), extent.min.x, extent.max.x);
    let mut y = scale(f64::midpoint(b.min.y, b.max.y), extent.min.y, extent.max.y);
    let mut d: u64 = 0;
    let mut s = N / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        // Rotate the quadrant so the curve stays continuous.
        if ry == 0 {
            if rx == 1 {
                x = N - 1 - x;
                y = N - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

/// Union of the layers' WGS84 bounds `[west, south, east, north]`; `None` if none has features.
pub fn lonlat_union<'a>(
    layers: impl IntoIterator<Item = &'a LayerSnapshot>,
    public: bool,
) -> Option<[f64; 4]> {
    layers
        .into_iter()
        .filter_map(|l| l.lonlat_bounds_for(public))
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

/// The whole Web Mercator world, as WGS84 `[west, south, east, north]`.
pub const WORLD: [f64; 4] = [-180.0, -85.051_129, 180.0, 85.051_129];

/// The `bounds` to tell tile clients for some layers (TileJSON, style sources): where
/// their features are, or the world when a live layer is among them — its features can
/// be put anywhere next minute, and MapLibre requests no tile outside `bounds`.
pub fn tile_bounds<'a>(
    layers: impl IntoIterator<Item = &'a LayerSnapshot> + Clone,
    public: bool,
) -> [f64; 4] {
    if layers.clone().into_iter().any(|l| l.live.is_some()) {
        return WORLD;
    }
    lonlat_union(layers, public).unwrap_or(WORLD)
}

/// Every layer that loaded, by id, in id order. Swapped whole on reload.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Unique to this catalog in this process: what is derived from it (the viewer's pages)
    /// is cached under it and never served for another.
    serial: u64,
    layers: BTreeMap<String, Arc<LayerSnapshot>>,
    /// Layers that failed to load: id → reason.
    failed: BTreeMap<String, String>,
    /// MapLibre styles by id (`styles/{id}.json`), as written.
    styles: Arc<BTreeMap<String, serde_json::Value>>,
    /// Fingerprints of each layer's files when loaded (for hot reload).
    fingerprints: BTreeMap<String, u64>,
    /// The root's `site.toml`.
    site: Arc<crate::config::Site>,
    /// Failed layers known to be public (their layer file parsed): the public view may
    /// hear that they failed, never why.
    failed_public: std::collections::BTreeSet<String>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new(Vec::new(), BTreeMap::new())
    }
}

impl Catalog {
    #[must_use]
    pub fn new(layers: Vec<Arc<LayerSnapshot>>, failed: BTreeMap<String, String>) -> Self {
        Self {
            layers: layers
                .into_iter()
                .map(|l| (l.def.id.to_string(), l))
                .collect(),
            failed,
            styles: Arc::default(),
            fingerprints: BTreeMap::new(),
            site: Arc::default(),
            failed_public: std::collections::BTreeSet::new(),
            serial: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
        }
    }

    /// A number no other catalog of this process has.
    #[must_use]
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The catalog knowing which failed layers are public.
    #[must_use]
    pub fn with_failed_public(mut self, ids: std::collections::BTreeSet<String>) -> Self {
        self.failed_public = ids;
        self
    }

    /// Failed layers known to be public.
    #[must_use]
    pub fn failed_public(&self) -> &std::collections::BTreeSet<String> {
        &self.failed_public
    }

    /// The catalog with this site.
    #[must_use]
    pub fn with_site(mut self, site: crate::config::Site) -> Self {
        self.site = Arc::new(site);
        self
    }

    /// The root's `site.toml` (empty when it has none).
    #[must_use]
    pub fn site(&self) -> &crate::config::Site {
        &self.site
    }

    /// The catalog with these file fingerprints.
    #[must_use]
    pub fn with_fingerprints(mut self, f: BTreeMap<String, u64>) -> Self {
        self.fingerprints = f;
        self
    }

    /// The fingerprint of a layer's files when it was loaded (0 if unknown).
    #[must_use]
    pub fn fingerprint(&self, id: &str) -> u64 {
        self.fingerprints.get(id).copied().unwrap_or(0)
    }

    /// The catalog with these styles.
    #[must_use]
    pub fn with_styles(mut self, styles: BTreeMap<String, serde_json::Value>) -> Self {
        self.styles = Arc::new(styles);
        self
    }

    /// This catalog with one layer's snapshot replaced (a live layer's edit). Everything
    /// derived from the catalog's layer files — styles, the viewer's pages — stays, and so
    /// does the serial: a live edit changes data, not what the pages are made from.
    #[must_use]
    pub fn with_layer(&self, layer: Arc<LayerSnapshot>) -> Self {
        let mut next = self.clone();
        next.layers.insert(layer.def.id.to_string(), layer);
        next
    }

    #[must_use]
    pub fn style(&self, id: &str) -> Option<&serde_json::Value> {
        self.styles.get(id)
    }

    /// Style ids, sorted.
    pub fn styles(&self) -> impl Iterator<Item = &String> {
        self.styles.keys()
    }

    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Arc<LayerSnapshot>> {
        self.layers.get(id)
    }

    pub fn layers(&self) -> impl Iterator<Item = &Arc<LayerSnapshot>> {
        self.layers.values()
    }

    /// The definitions of the live layers (what `live::LiveStore::open` is given).
    #[must_use]
    pub fn live_defs(&self) -> Vec<Arc<LayerDef>> {
        self.layers()
            .filter(|l| l.def.live.is_some())
            .map(|l| Arc::clone(&l.def))
            .collect()
    }

    #[must_use]
    pub fn failed(&self) -> &BTreeMap<String, String> {
        &self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal attribute rows end up as one allocation; different ones (a float by its bits,
    /// a string, another kind) stay apart; and a layer of distinct rows still gets every
    /// row right after sharing gives up.
    #[test]
    fn equal_attribute_rows_are_shared() {
        let def = Arc::new(
            LayerDef::from_toml(
                std::path::Path::new("layers/t.toml"),
                "title = { ja = \"t\", en = \"t\" }\ncategory = \"kihon\"\ngeometry = \"point\"\naccess = { view = \"public\" }\n[[source]]\npath = \"t.shp\"\n",
            )
            .expect("layer"),
        );
        let row = |k: u64| -> Vec<Value> {
            match k % 4 {
                0 => vec![Value::Str("住宅".into()), Value::Int(3)],
                1 => vec![Value::Str("住宅".into()), Value::Float(3.0)],
                2 => vec![Value::Str("商業".into()), Value::Int(3)],
                _ => vec![Value::Null, Value::Float(f64::NAN)],
            }
        };
        let n = 10_000u64;
        let feature = |id: u64, values: Vec<Value>| Feature {
            id,
            shape: Shape::Points(vec![Coord {
                x: id as f64,
                y: 0.0,
            }]),
            bbox: pt(id as f64, 0.0),
            values: values.into(),
            public: true,
        };
        let features = (0..n).map(|i| feature(i, row(i))).collect();
        let l = LayerSnapshot::build(
            Arc::clone(&def),
            Vec::new(),
            features,
            IngestReport::default(),
            1,
        );
        let mut distinct: Vec<*const Value> =
            l.features.iter().map(|f| f.values.as_ptr()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "one allocation per distinct row");
        for f in &l.features {
            let want = row(f.id);
            assert_eq!(f.values.len(), want.len());
            assert!(format!("{:?}", f.values) == format!("{want:?}"), "{}", f.id);
        }
        // Every row distinct: sharing gives up, and every value is still its own.
        let unique = (0..n)
            .map(|i| feature(i, vec![Value::Int(i as i64)]))
            .collect();
        let l = LayerSnapshot::build(def, Vec::new(), unique, IngestReport::default(), 1);
        assert!(l
            .features
            .iter()
            .all(|f| f.values[..] == [Value::Int(f.id as i64)]));
    }

    fn pt(x: f64, y: f64) -> PartBox {
        PartBox {
            min: Coord { x, y },
            max: Coord { x, y },
        }
    }

    #[test]
    fn hilbert_neighbours_are_close() {
        let ext = PartBox {
            min: Coord { x: 0.0, y: 0.0 },
            max: Coord { x: 100.0, y: 100.0 },
        };
        // The four quadrant centres are visited in curve order, each a different quarter.
        let keys: Vec<u64> = [(25.0, 25.0), (25.0, 75.0), (75.0, 75.0), (75.0, 25.0)]
            .iter()
            .map(|&(x, y)| hilbert_key(&ext, &pt(x, y)) >> 30)
            .collect();
        assert_eq!(keys, vec![0, 1, 2, 3]);
        assert_eq!(hilbert_key(&ext, &pt(0.0, 0.0)), 0);
    }
}
