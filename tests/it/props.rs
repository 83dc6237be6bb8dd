//! Property tests for clipping + simplification + rounding + orientation: random
//! polygons with holes and random lines around the tile's edges.

use chizu::store::{LinePart, PartBox, PolygonPart, Shape};
use chizu::tile::cut::{cut_feature, signed_area2, CutParams, GeomKind};
use chizu::tile::TileCoord;
use geo::{Area, BooleanOps, Coord, Distance, Euclidean, LineString, Polygon};
use proptest::prelude::*;

const BUF: f64 = 64.0;
const TOL: f64 = 1.0;

fn tile() -> TileCoord {
    TileCoord::new(10, 909, 403).expect("tile")
}

/// Tile units → Web Mercator for the test tile.
fn to_merc(p: (f64, f64)) -> Coord<f64> {
    let t = tile();
    let b = t.bounds();
    let unit = t.size() / 4096.0;
    Coord {
        x: b.min_x + p.0 * unit,
        y: b.max_y - p.1 * unit,
    }
}

fn params() -> CutParams {
    CutParams {
        keep_above: -1.0,
        ..CutParams::for_tile(&tile(), BUF, TOL)
    }
}

/// A star-shaped ring around (cx, cy): simple by construction.
fn star(cx: f64, cy: f64, radii: &[f64], jitter: &[f64]) -> Vec<(f64, f64)> {
    let n = radii.len();
    (0..n)
        .map(|i| {
            let a = (i as f64 + jitter[i] * 0.5) / n as f64 * std::f64::consts::TAU;
            (cx + radii[i] * a.cos(), cy + radii[i] * a.sin())
        })
        .collect()
}

fn closed_merc(r: &[(f64, f64)]) -> Vec<Coord<f64>> {
    let mut v: Vec<Coord<f64>> = r.iter().map(|&p| to_merc(p)).collect();
    v.push(v[0]);
    v
}

fn geo_ring(r: &[(f64, f64)]) -> LineString<f64> {
    r.iter().map(|&(x, y)| Coord { x, y }).collect()
}

fn polygon_strategy(
) -> impl Strategy<Value = (f64, f64, Vec<f64>, Vec<f64>, Option<(f64, Vec<f64>)>)> {
    (
        -600.0..4700.0f64,
        -600.0..4700.0f64,
        (6usize..40).prop_flat_map(|n| {
            (
                prop::collection::vec(40.0..2500.0f64, n),
                prop::collection::vec(-1.0..1.0f64, n),
            )
        }),
        prop::option::of((0.05..0.3f64, prop::collection::vec(0.5..1.0f64, 6..20))),
    )
        .prop_map(|(cx, cy, (radii, jitter), hole)| (cx, cy, radii, jitter, hole))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn polygons_stay_valid_in_buffer_and_keep_their_area((cx, cy, radii, jitter, hole) in polygon_strategy()) {
        let outer = star(cx, cy, &radii, &jitter);
        let min_r = radii.iter().copied().fold(f64::INFINITY, f64::min);
        // Hole radius below the outer ring's inscribed radius (max angular gap 90°).
        let hole_ring = hole.map(|(scale, hr)| {
            let r: Vec<f64> = hr.iter().map(|f| f * scale * min_r * 0.7).collect();
            let j = vec![0.0; r.len()];
            star(cx, cy, &r, &j)
        });
        let mut rings = vec![closed_merc(&outer)];
        if let Some(h) = &hole_ring {
            rings.push(closed_merc(h));
        }
        let shape = Shape::Polygons(vec![PolygonPart::new(rings).expect("part")]);
        let out = cut_feature(&shape, &[0], &params());

        let src = Polygon::new(geo_ring(&outer), hole_ring.iter().map(|h| geo_ring(h)).collect());
        let clip_rect = geo::Rect::new(Coord { x: -BUF, y: -BUF }, Coord { x: 4096.0 + BUF, y: 4096.0 + BUF }).to_polygon();
        let expected = src.intersection(&clip_rect);
        let expected_area = expected.unsigned_area();
        let perimeter: f64 = {
            use geo::{Length, LinesIter};
            expected.lines_iter().map(|l| Euclidean.length(&l)).sum()
        };
        // Simplification moves an edge by ≤ TOL and rounding by ≤ √2/2, along the whole outline.
        let budget = perimeter * (TOL + std::f64::consts::FRAC_1_SQRT_2) + 4.0;

        let mut got_area = 0.0;
        if let Some(g) = &out {
            prop_assert_eq!(g.kind, GeomKind::Polygons);
            for poly in g.polygons() {
                for (i, ring) in poly.iter().enumerate() {
                    prop_assert!(ring.len() >= 3, "ring with {} points", ring.len());
                    let a = signed_area2(ring);
                    if i == 0 { prop_assert!(a > 0, "exterior must be positive: {a}"); } else { prop_assert!(a < 0, "hole must be negative: {a}"); }
                    for &(x, y) in *ring {
                        prop_assert!(f64::from(x) >= -BUF && f64::from(x) <= 4096.0 + BUF && f64::from(y) >= -BUF && f64::from(y) <= 4096.0 + BUF);
                    }
                    got_area += a as f64 / 2.0;
                }
            }
        }
        prop_assert!((got_area - expected_area).abs() <= budget,
            "area {got_area} vs expected {expected_area} (budget {budget})");
    }

    #[test]
    fn lines_stay_in_buffer_and_near_the_source(
        pts in prop::collection::vec((-2000.0..6000.0f64, -2000.0..6000.0f64), 2..30)
    ) {
        let coords: Vec<Coord<f64>> = pts.iter().map(|&p| to_merc(p)).collect();
        let shape = Shape::Lines(vec![LinePart::new(coords).expect("part")]);
        let out = cut_feature(&shape, &[0], &params());
        let src: LineString<f64> = pts.iter().map(|&(x, y)| Coord { x, y }).collect();
        let inside = pts.iter().any(|&(x, y)| (2.0..4094.0).contains(&x) && (2.0..4094.0).contains(&y));
        match out {
            Some(g) => {
                prop_assert_eq!(g.kind, GeomKind::Lines);
                for l in g.parts() {
                    prop_assert!(l.len() >= 2);
                    for &(x, y) in l {
                        let (x, y) = (f64::from(x), f64::from(y));
                        prop_assert!(x >= -BUF && x <= 4096.0 + BUF && y >= -BUF && y <= 4096.0 + BUF);
                        let d = Euclidean.distance(&geo::Point::new(x, y), &src);
                        prop_assert!(d <= std::f64::consts::FRAC_1_SQRT_2 + 1e-9, "vertex {d} units off the source line");
                    }
                }
            }
            None => prop_assert!(!inside, "a line with a vertex inside the tile vanished"),
        }
    }
}

/// Random boxes as polygon parts of random features, for the index check.
fn random_layer(boxes: &[(f64, f64, f64, f64)]) -> chizu::store::LayerSnapshot {
    let def = chizu::config::LayerDef::from_toml(
        std::path::Path::new("layers/rand.toml"),
        "title = { ja = \"r\", en = \"r\" }\ncategory = \"kihon\"\ngeometry = \"polygon\"\naccess = { view = \"public\" }\n[[source]]\npath = \"x\"\n",
    )
    .expect("layer");
    // Two parts per feature, so grouping by feature is exercised too.
    let features = boxes
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let parts: Vec<PolygonPart> = pair
                .iter()
                .map(|&(x, y, w, h)| {
                    let ring = vec![
                        Coord { x, y },
                        Coord { x: x + w, y },
                        Coord { x: x + w, y: y + h },
                        Coord { x, y: y + h },
                        Coord { x, y },
                    ];
                    PolygonPart::new(vec![ring]).expect("part")
                })
                .collect();
            let bbox = parts
                .iter()
                .map(|p| p.bbox)
                .reduce(|a, b| a.union(&b))
                .expect("parts");
            chizu::store::Feature {
                id: i as u64,
                shape: Shape::Polygons(parts),
                bbox,
                values: Vec::new().into(),
                public: true,
            }
        })
        .collect();
    chizu::store::LayerSnapshot::build(
        std::sync::Arc::new(def),
        Vec::new(),
        features,
        chizu::ingest::IngestReport::default(),
        1,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// The R-tree finds exactly the parts a brute-force scan finds, grouped by feature.
    #[test]
    fn index_matches_brute_force(
        boxes in prop::collection::vec((0.0..1000.0f64, 0.0..1000.0f64, 0.1..80.0f64, 0.1..80.0f64), 2..300),
        q in (0.0..1000.0f64, 0.0..1000.0f64, 1.0..400.0f64, 1.0..400.0f64),
    ) {
        let layer = random_layer(&boxes);
        let area = PartBox { min: Coord { x: q.0, y: q.1 }, max: Coord { x: q.0 + q.2, y: q.1 + q.3 } };
        let got = layer.parts_in(&area);
        let mut want = Vec::new();
        for (fi, f) in layer.features.iter().enumerate() {
            let Shape::Polygons(parts) = &f.shape else { unreachable!() };
            for (pi, p) in parts.iter().enumerate() {
                let b = p.bbox;
                if b.min.x <= area.max.x && b.max.x >= area.min.x && b.min.y <= area.max.y && b.max.y >= area.min.y {
                    want.push((fi as u32, pi as u32));
                }
            }
        }
        prop_assert_eq!(got, want);
    }
}
