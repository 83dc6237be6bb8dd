//! A deterministic synthetic dense city for benchmarks: ≈100k small building polygons,
//! 30k road lines and 2k large flood polygons with holes, around 焼津 in Web Mercator.
//! Same seed, same city, on every machine.
#![allow(clippy::must_use_candidate, clippy::too_many_lines)] // benchmark fixture, not API

use std::sync::Arc;

use chizu::config::LayerDef;
use chizu::ingest::IngestReport;
use chizu::store::{
    Feature, FieldDef, FieldType, LayerSnapshot, LinePart, PartBox, PolygonPart, Shape, Value,
};
use geo::Coord;

/// splitmix64: tiny, fast, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

/// The city's extent in EPSG:3857: 16 km × 16 km (Mercator metres; ≈ 13 km on the ground
/// at this latitude) centred near 焼津駅, large enough that every z12–z16 tile over it
/// makes a list of more than 1,000 distinct tiles.
pub fn extent() -> PartBox {
    extent_scaled(1)
}

/// The extent of the city `scale` times as large at the same density (each side ×√scale).
pub fn extent_scaled(scale: u32) -> PartBox {
    let (cx, cy) = chizu::tile::lonlat_to_mercator(138.30, 34.86);
    let half = 8_000.0 * f64::from(scale).sqrt();
    PartBox {
        min: Coord {
            x: cx - half,
            y: cy - half,
        },
        max: Coord {
            x: cx + half,
            y: cy + half,
        },
    }
}

fn def(id: &str, geometry: &str) -> Arc<LayerDef> {
    let toml = format!(
        "title = {{ ja = \"{id}\", en = \"{id}\" }}\ncategory = \"kihon\"\ngeometry = \"{geometry}\"\naccess = {{ view = \"public\" }}\n[[source]]\npath = \"synthetic\"\n"
    );
    Arc::new(
        LayerDef::from_toml(std::path::Path::new(&format!("layers/{id}.toml")), &toml)
            .expect("synthetic layer"),
    )
}

fn field(name: &str, kind: FieldType) -> FieldDef {
    FieldDef {
        name: name.into(),
        kind,
        label: None,
        values: std::collections::BTreeMap::default(),
        internal: false,
    }
}

fn closed(mut r: Vec<Coord<f64>>) -> Vec<Coord<f64>> {
    r.push(r[0]);
    r
}

fn star(rng: &mut Rng, c: Coord<f64>, n: usize, r_min: f64, r_max: f64) -> Vec<Coord<f64>> {
    closed(
        (0..n)
            .map(|i| {
                let a = (i as f64 + rng.range(-0.3, 0.3)) / n as f64 * std::f64::consts::TAU;
                let r = rng.range(r_min, r_max);
                Coord {
                    x: c.x + r * a.cos(),
                    y: c.y + r * a.sin(),
                }
            })
            .collect(),
    )
}

fn polygon_feature(id: u64, rings: Vec<Vec<Coord<f64>>>, values: Vec<Value>) -> Feature {
    let part = PolygonPart::new(rings).expect("ring");
    let bbox = part.bbox;
    Feature {
        id,
        shape: Shape::Polygons(vec![part]),
        bbox,
        values: values.into(),
        public: true,
    }
}

/// Buildings, roads and floods, as three layer snapshots.
#[allow(dead_code)] // bench_city writes city_scaled
pub fn city() -> Vec<Arc<LayerSnapshot>> {
    city_scaled(1)
}

/// [`city`] over [`extent_scaled`]: `scale` times the features at the same density (the
/// first `scale` = 1 city is [`city`] itself).
pub fn city_scaled(scale: u32) -> Vec<Arc<LayerSnapshot>> {
    let ext = extent_scaled(scale);
    let k = u64::from(scale);
    let mut rng = Rng::new(20_261_121);
    let uses = ["住宅", "商業", "工業", "公共"];

    let mut buildings = Vec::with_capacity(100_000 * k as usize);
    for i in 0..100_000 * k {
        let c = Coord {
            x: rng.range(ext.min.x, ext.max.x),
            y: rng.range(ext.min.y, ext.max.y),
        };
        let (w, h, a) = (
            rng.range(6.0, 30.0),
            rng.range(6.0, 24.0),
            rng.range(0.0, std::f64::consts::PI),
        );
        let (s, co) = a.sin_cos();
        let corner = |dx: f64, dy: f64| Coord {
            x: c.x + dx * co - dy * s,
            y: c.y + dx * s + dy * co,
        };
        let ring = closed(vec![
            corner(-w, -h),
            corner(w, -h),
            corner(w, h),
            corner(-w, h),
        ]);
        let values = vec![
            Value::Int((rng.next_u64() % 40 + 3) as i64),
            Value::Str(uses[(rng.next_u64() % 4) as usize].into()),
        ];
        buildings.push(polygon_feature(i, vec![ring], values));
    }

    let mut roads = Vec::with_capacity(30_000 * k as usize);
    for i in 0..30_000 * k {
        let mut p = Coord {
            x: rng.range(ext.min.x, ext.max.x),
            y: rng.range(ext.min.y, ext.max.y),
        };
        let n = 2 + (rng.next_u64() % 9) as usize;
        let mut heading = rng.range(0.0, std::f64::consts::TAU);
        let mut coords = vec![p];
        for _ in 1..n {
            heading += rng.range(-0.5, 0.5);
            let step = rng.range(20.0, 80.0);
            p = Coord {
                x: p.x + step * heading.cos(),
                y: p.y + step * heading.sin(),
            };
            coords.push(p);
        }
        let part = LinePart::new(coords).expect("line");
        let bbox = part.bbox;
        roads.push(Feature {
            id: i,
            shape: Shape::Lines(vec![part]),
            bbox,
            values: vec![Value::Int((rng.next_u64() % 5) as i64)].into(),
            public: true,
        });
    }

    let mut floods = Vec::with_capacity(2_000 * k as usize);
    for i in 0..2_000 * k {
        let c = Coord {
            x: rng.range(ext.min.x, ext.max.x),
            y: rng.range(ext.min.y, ext.max.y),
        };
        let n = 40 + (rng.next_u64() % 400) as usize;
        let r = rng.range(150.0, 900.0);
        let mut rings = vec![star(&mut rng, c, n, r * 0.7, r)];
        for _ in 0..=(rng.next_u64() % 3) {
            let off = Coord {
                x: c.x + rng.range(-0.2, 0.2) * r,
                y: c.y + rng.range(-0.2, 0.2) * r,
            };
            rings.push(star(&mut rng, off, 12, r * 0.05, r * 0.15));
        }
        floods.push(polygon_feature(
            i,
            rings,
            vec![Value::Int((rng.next_u64() % 6 + 1) as i64)],
        ));
    }

    let report = IngestReport::default;
    vec![
        Arc::new(LayerSnapshot::build(
            def("buildings", "polygon"),
            vec![
                field("height", FieldType::Integer),
                field("use", FieldType::String),
            ],
            buildings,
            report(),
            1,
        )),
        Arc::new(LayerSnapshot::build(
            def("roads", "line"),
            vec![field("class", FieldType::Integer)],
            roads,
            report(),
            1,
        )),
        Arc::new(LayerSnapshot::build(
            def("floods", "polygon"),
            vec![field("depth_rank", FieldType::Integer)],
            floods,
            report(),
            1,
        )),
    ]
}

/// A fixed list of tiles z12–z16 over `area`: every tile at z12–z14, and at z15 and z16
/// every tile, or an evenly strided sample of `per_zoom` when there are more.
#[allow(dead_code)] // bench_city strides each zoom itself
pub fn tile_list(area: &PartBox, per_zoom: usize) -> Vec<chizu::tile::TileCoord> {
    tile_list_zooms(area, 12..=16, per_zoom)
}

/// Every tile over `area` at the zooms given (at most `per_zoom` evenly spread above z14).
pub fn tile_list_zooms(
    area: &PartBox,
    zooms: std::ops::RangeInclusive<u8>,
    per_zoom: usize,
) -> Vec<chizu::tile::TileCoord> {
    let mut out = Vec::new();
    for z in zooms {
        let a = chizu::tile::TileCoord::containing(z, area.min.x, area.max.y);
        let b = chizu::tile::TileCoord::containing(z, area.max.x, area.min.y);
        let mut all = Vec::new();
        for x in a.x()..=b.x() {
            for y in a.y()..=b.y() {
                all.push(chizu::tile::TileCoord::new(z, x, y).expect("in range"));
            }
        }
        if z <= 14 || all.len() <= per_zoom {
            out.extend(all);
        } else {
            let step = all.len() as f64 / per_zoom as f64;
            out.extend((0..per_zoom).map(|i| all[(i as f64 * step) as usize]));
        }
    }
    out
}

/// The 焼津 sample under the crate root, loaded on every core: its public file layers (the
/// composite the benches cut) and the extent they cover together.
#[allow(dead_code)] // the mlt and gzip benches use it; the others include this file too
pub fn sample_public() -> (Vec<Arc<LayerSnapshot>>, PartBox) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    chizu::route_gdal_messages();
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let loaded = chizu::load_root(&root, cores);
    let sample: Vec<Arc<LayerSnapshot>> = loaded
        .catalog
        .layers()
        .filter(|l| l.def.is_public() && l.live.is_none())
        .cloned()
        .collect();
    let area = sample
        .iter()
        .filter_map(|l| l.bounds)
        .reduce(|mut a, b| {
            a.min.x = a.min.x.min(b.min.x);
            a.min.y = a.min.y.min(b.min.y);
            a.max.x = a.max.x.max(b.max.x);
            a.max.y = a.max.y.max(b.max.y);
            a
        })
        .expect("bounds");
    (sample, area)
}
