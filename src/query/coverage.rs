//! What a root's data covers: the area (the site's coverage layer or box, else the data's
//! bounds) and the hazard kinds (the site's list, else the kinds of the hazard layers), so a
//! report can say "outside this data" or "this data has no 津波 layer" instead of implying
//! the place is safe.

use geo::Coord;
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::geom;
use crate::access::View;
use crate::config::{HazardKind, I18n};
use crate::store::{Catalog, LayerSnapshot, PartBox, Shape};
use crate::tile::lonlat_to_mercator;

/// How the area is known.
enum Area<'a> {
    /// Polygons of a layer, with a margin in metres on the ground.
    Layer(&'a LayerSnapshot, f64),
    /// A lon/lat box.
    Box([f64; 4]),
    /// No data at all: nothing is covered.
    Nothing,
}

/// The coverage of one view of a catalog.
pub struct Coverage<'a> {
    area: Area<'a>,
    /// Hazard kinds covered, in report order.
    pub kinds: Vec<HazardKind>,
    pub links: Vec<crate::config::site::Link>,
    /// The municipality's name, for "outside 〇〇市's data".
    pub name: Option<I18n>,
    /// The site's evacuation hint, for reports that find a hazard.
    pub hint: Option<I18n>,
}

/// A hazard kind the data does not cover.
#[derive(Debug, Clone, Serialize)]
pub struct Uncovered {
    pub kind: HazardKind,
    pub label: String,
}

impl<'a> Coverage<'a> {
    /// The coverage `view` sees: a coverage layer only if the view may see it.
    #[must_use]
    pub fn of(catalog: &'a Catalog, view: &View) -> Self {
        let site = catalog.site();
        let c = &site.coverage;
        let visible: Vec<&LayerSnapshot> = catalog
            .layers()
            .filter(|l| view.sees_layer(&l.def))
            .map(AsRef::as_ref)
            .collect();
        let layer = c
            .layer
            .as_deref()
            .and_then(|id| visible.iter().find(|l| l.def.id.as_str() == id))
            .filter(|l| {
                l.features
                    .iter()
                    .any(|f| matches!(f.shape, Shape::Polygons(_)))
            });
        let area = match (layer, c.bbox) {
            (Some(l), _) => Area::Layer(l, c.margin_m),
            (None, Some(b)) => Area::Box(b),
            (None, None) => crate::store::lonlat_union(visible.iter().copied(), view.is_public())
                .map_or(Area::Nothing, Area::Box),
        };
        let kinds = match &c.hazards {
            Some(k) => HazardKind::ALL
                .iter()
                .copied()
                .filter(|x| k.contains(x))
                .collect(),
            None => HazardKind::ALL
                .iter()
                .copied()
                .filter(|k| {
                    visible
                        .iter()
                        .any(|l| l.def.hazard.as_ref().is_some_and(|h| h.kind == *k))
                })
                .collect(),
        };
        Self {
            area,
            kinds,
            links: c.links.clone(),
            name: site.name.clone(),
            hint: site.evacuation_hint.clone(),
        }
    }

    /// Whether the point lies in the area the data covers.
    #[must_use]
    pub fn covers(&self, lon: f64, lat: f64) -> bool {
        match &self.area {
            Area::Nothing => false,
            Area::Box([w, s, e, n]) => (*w..=*e).contains(&lon) && (*s..=*n).contains(&lat),
            Area::Layer(layer, margin_m) => {
                let (x, y) = lonlat_to_mercator(lon, lat);
                let p = Coord { x, y };
                // Mercator metres per ground metre at this latitude.
                let m = margin_m / lat.to_radians().cos().max(0.01);
                let area = PartBox {
                    min: Coord { x: x - m, y: y - m },
                    max: Coord { x: x + m, y: y + m },
                };
                layer.parts_in(&area).into_iter().any(|(fi, pi)| {
                    let Some(Shape::Polygons(parts)) =
                        layer.features.get(fi as usize).map(|f| &f.shape)
                    else {
                        return false;
                    };
                    let Some(part) = parts.get(pi as usize) else {
                        return false;
                    };
                    geom::polygon_contains(part, p)
                        || part.rings.iter().any(|r| {
                            r.windows(2)
                                .any(|s| geom::segment_distance(p, s[0], s[1]) <= m)
                        })
                })
            }
        }
    }

    /// The hazard kinds this data does not cover, labelled in `ja`/`en`.
    #[must_use]
    pub fn uncovered(&self, en: bool) -> Vec<Uncovered> {
        HazardKind::ALL
            .iter()
            .filter(|k| !self.kinds.contains(k))
            .filter(|k| {
                // Kinds that are parts of one covered family are not named apart.
                !matches!(
                    k,
                    HazardKind::FloodDuration | HazardKind::LandslidePrevention
                )
            })
            .map(|k| {
                let l = k.label();
                Uncovered {
                    kind: *k,
                    label: if en { l.en } else { l.ja },
                }
            })
            .collect()
    }
}

/// The coverage as the catalog describes it.
#[must_use]
pub fn describe(catalog: &Catalog, view: &View) -> Json {
    let c = Coverage::of(catalog, view);
    let (area, bbox) = match &c.area {
        Area::Layer(l, m) => (
            json!({ "layer": l.def.id, "margin_m": m }),
            l.lonlat_bounds_for(view.is_public()),
        ),
        Area::Box(b) => (json!("bbox"), Some(*b)),
        Area::Nothing => (json!(null), None),
    };
    json!({
        "area": area,
        "bbox": bbox,
        "hazards": c.kinds,
        "not_covered": c.uncovered(false).iter().map(|u| u.kind).collect::<Vec<_>>(),
        "links": c.links,
    })
}
