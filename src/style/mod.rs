//! MapLibre styles (`styles/*.json`): loaded with the layers, and rendered per view —
//! the `chizu:` vector source becomes a TileJSON URL of exactly the layers the caller may
//! see, style layers for other layers are dropped, relative URLs point at the server that
//! answered, and an optional raster basemap goes under everything. A style marked
//! `"metadata": {"chizu:view": "internal"}` does not exist for the public view.

mod generate;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::access::View;
use crate::config::LayerId;
use crate::store::Catalog;

/// A raster basemap added under every style (e.g. 地理院タイル), for deployments with internet.
#[derive(Debug, Clone)]
pub struct RasterBasemap {
    /// XYZ URL template with `{z}/{x}/{y}`.
    pub url: String,
    pub attribution: String,
}

/// Reads `dir/*.json`; returns the styles that parsed and one message per file that did not.
#[must_use]
pub fn load_dir(dir: &Path) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut styles = BTreeMap::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (styles, errors);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = std::fs::read_to_string(&f)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
        match parsed {
            Err(e) => errors.push(format!("{}: {e}", f.display())),
            Ok(v) if v["version"] != 8 || !v["layers"].is_array() => {
                errors.push(format!(
                    "{}: not a MapLibre style (expected \"version\": 8 and \"layers\")",
                    f.display()
                ));
            }
            Ok(_) if LayerId::parse(&stem).is_err() => {
                errors.push(format!(
                    "{}: the file name must be a-z, 0-9, `_`, `-` (it is the style's URL)",
                    f.display()
                ));
            }
            Ok(v) => {
                styles.insert(stem, v);
            }
        }
    }
    (styles, errors)
}

pub use generate::{generate, DEPTH, DURATION, INLAND};

/// The styles a catalog serves: each of the root's own, completed with generated style
/// layers for the layers it leaves out, and generated `public` and `internal` styles where
/// the root has none.
#[must_use]
pub fn assemble(
    mut root_styles: BTreeMap<String, Value>,
    catalog: &Catalog,
) -> BTreeMap<String, Value> {
    let layers: Vec<_> = catalog.layers().cloned().collect();
    let site = catalog.site();
    for s in root_styles.values_mut() {
        let public = s["metadata"]["chizu:view"] != "internal";
        let view_layers: Vec<_> = layers
            .iter()
            .filter(|l| !public || l.def.is_public())
            .cloned()
            .collect();
        *s = generate::complete(s, &view_layers, site);
    }
    for (id, public) in [("public", true), ("internal", false)] {
        root_styles
            .entry(id.to_string())
            .or_insert_with(|| generate::generate(&layers, site, public));
    }
    root_styles
}

/// The style as `view` may see it, with URLs under `base`; `None` if the view has no such style.
#[must_use]
pub fn render(
    style: &Value,
    view: &View,
    catalog: &Catalog,
    base: &str,
    basemap: Option<&RasterBasemap>,
    format: crate::tile::TileFormat,
) -> Option<Value> {
    if view.is_public() && style["metadata"]["chizu:view"] == "internal" {
        return None;
    }
    let mut s = style.clone();
    let visible = |id: &str| catalog.get(id).is_some_and(|l| view.sees_layer(&l.def));
    let chizu_sources: Vec<String> = s["sources"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v["url"] == "chizu:")
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    // Keep style layers whose chizu layer the view sees; note which ids each source needs.
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(layers) = s["layers"].as_array_mut() {
        layers.retain(|l| {
            let Some(src) = l["source"].as_str() else {
                return true;
            };
            if !chizu_sources.iter().any(|c| c == src) {
                return true;
            }
            let Some(id) = l["source-layer"].as_str() else {
                return false;
            };
            if !visible(id) {
                return false;
            }
            let ids = used.entry(src.to_string()).or_default();
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
            true
        });
    }
    if let Some(sources) = s["sources"].as_object_mut() {
        for name in &chizu_sources {
            match used.get(name) {
                Some(ids) => {
                    let attribution = crate::config::attribution(
                        ids.iter()
                            .filter_map(|id| catalog.get(id).map(|l| l.def.as_ref())),
                    );
                    // The tiles inline rather than a TileJSON URL: one round trip less
                    // before the first tile (750 ms on a phone over 3G).
                    let layers: Vec<&crate::store::LayerSnapshot> = ids
                        .iter()
                        .filter_map(|id| catalog.get(id).map(AsRef::as_ref))
                        .collect();
                    let minzoom = layers.iter().map(|l| l.def.minzoom).min().unwrap_or(0);
                    let maxzoom = layers.iter().map(|l| l.def.maxzoom).max().unwrap_or(18);
                    let bounds =
                        crate::store::tile_bounds(layers.iter().copied(), view.is_public());
                    let mut source = json!({
                        "type": "vector",
                        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.{}", ids.join(","), format.suffix())],
                        "minzoom": minzoom,
                        "maxzoom": maxzoom,
                        "bounds": bounds,
                        "attribution": attribution,
                    });
                    if format == crate::tile::TileFormat::Mlt {
                        source["encoding"] = json!("mlt");
                    }
                    sources.insert(name.clone(), source);
                }
                None => {
                    sources.remove(name);
                }
            }
        }
        for v in sources.values_mut() {
            if let Some(u) = v["url"].as_str().filter(|u| u.starts_with('/')) {
                v["url"] = json!(format!("{base}{u}"));
            }
        }
        if let Some(b) = basemap {
            sources.insert("basemap".into(), json!({ "type": "raster", "tiles": [b.url], "tileSize": 256, "attribution": b.attribution }));
        }
    }
    if basemap.is_some() {
        if let Some(layers) = s["layers"].as_array_mut() {
            let at = layers
                .iter()
                .take_while(|l| l["type"] == "background")
                .count();
            layers.insert(at, json!({ "id": "basemap", "type": "raster", "source": "basemap", "paint": { "raster-opacity": 0.8 } }));
        }
    }
    Some(s)
}
