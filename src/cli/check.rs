//! `chizu check`: load every layer without serving and lint what a city would otherwise find
//! out from a blank map: per layer the files, CRS, encoding, counts with the first feature
//! ids per reason, what the size rules and tile budgets take out per zoom, and warnings for
//! leftovers and traps (TODO titles, roles nobody holds, labels matching no value).
//! Exits non-zero on any error, and with `--strict` on any warning.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chizu::config::Access;
use chizu::store::LayerSnapshot;

/// Zooms up to which `check` cuts every tile to test the per-tile budgets: beyond z14 a
/// city's tiles only get smaller, and the scan stays within seconds.
const BUDGET_SCAN_MAXZOOM: u8 = 14;

pub fn run(root: &Path, keys: &Path, json: bool, strict: bool) -> anyhow::Result<ExitCode> {
    if !root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR (or make one with `chizu init DIR`)",
            root.display()
        );
    }
    let loaded = chizu::load_root(root, super::threads(None));
    let scans = budget_scans(&loaded.catalog)?;
    let roles = key_roles(keys);
    let warnings: Vec<(String, Vec<String>)> = loaded
        .catalog
        .layers()
        .map(|l| (l.def.id.to_string(), lint(l, roles.as_ref(), keys)))
        .collect();
    let mut site_warnings = Vec::new();
    if loaded.catalog.layers().next().is_none() && loaded.errors.is_empty() {
        site_warnings.push("no layers: add one TOML per layer under layers/ (`chizu inspect data/` writes starting files)".to_string());
    }
    let warning_count = warnings.iter().map(|(_, w)| w.len()).sum::<usize>() + site_warnings.len();
    let mut out = std::io::stdout().lock();
    if json {
        let layers: Vec<serde_json::Value> = loaded
            .catalog
            .layers()
            .zip(&warnings)
            .map(|(l, (_, w))| {
                serde_json::json!({
                    "id": l.def.id,
                    "file": l.def.file.display().to_string(),
                    "features": l.features.len(),
                    "fields": l.fields,
                    "report": l.report,
                    "size_rules": l.size_rules.zooms(false, l.def.minzoom, l.def.maxzoom),
                    "tile_budget": {
                        "max_bytes": l.def.max_tile_bytes,
                        "max_features": l.def.max_tile_features,
                        "scan": scans.get(l.def.id.as_str()),
                    },
                    "warnings": w,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "layers": layers,
            "errors": loaded.errors,
            "warnings": site_warnings,
            "warning_count": warning_count,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for (l, (_, w)) in loaded.catalog.layers().zip(&warnings) {
            print_layer(&mut out, l)?;
            print_size_rules(&mut out, l)?;
            if let Some(scan) = scans.get(l.def.id.as_str()) {
                print_budget(&mut out, l, scan)?;
            }
            for w in w {
                writeln!(out, "    warning: {w}")?;
            }
        }
        for w in &site_warnings {
            writeln!(out, "warning: {w}")?;
        }
        for e in &loaded.errors {
            writeln!(out, "✘ {e}")?;
        }
        writeln!(
            out,
            "{} layers loaded, {} failed, {warning_count} warnings{}",
            loaded.catalog.layers().count(),
            loaded.errors.len(),
            if strict && warning_count > 0 {
                " (--strict: warnings fail)"
            } else {
                ""
            }
        )?;
    }
    Ok(
        if loaded.errors.is_empty() && !(strict && warning_count > 0) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Every role some key in the keys file holds; `None` when there is no keys file.
fn key_roles(keys: &Path) -> Option<BTreeSet<String>> {
    let entries = chizu::access::keys::list(keys).ok()?;
    Some(entries.into_iter().flat_map(|k| k.roles).collect())
}

/// What in a loaded layer is probably a mistake, though it loads. (Ingest's own warnings —
/// values that did not convert, `values` tables matching no value — are included.)
fn lint(l: &LayerSnapshot, roles: Option<&BTreeSet<String>>, keys: &Path) -> Vec<String> {
    let d = &l.def;
    let mut w = l.report.warnings.clone();
    for (key, text) in [
        ("title.ja", &d.title.ja),
        ("title.en", &d.title.en),
        (
            "description.ja",
            &d.description
                .as_ref()
                .map(|x| x.ja.clone())
                .unwrap_or_default(),
        ),
        (
            "description.en",
            &d.description
                .as_ref()
                .map(|x| x.en.clone())
                .unwrap_or_default(),
        ),
    ] {
        if text.contains("TODO") {
            w.push(format!(
                "`{key}` still reads \"{text}\": the map shows it to people"
            ));
        }
    }
    for (i, f) in l.fields.iter().enumerate() {
        if let Some(lb) = &f.label {
            if lb.ja.contains("TODO") || lb.en.contains("TODO") {
                w.push(format!(
                    "field `{}` (#{i}): its label still says TODO",
                    f.name
                ));
            }
        }
    }
    for (i, s) in d.sources.iter().enumerate() {
        if s.database().is_some() && s.shown_path() != s.path.trim() {
            w.push(format!(
                "source[{i}].path holds a password: whoever reads layers/ can read it; give it in PGPASSWORD or ~/.pgpass instead"
            ));
        }
    }
    if let Some(edit) = &d.live {
        if edit.create.is_empty() && edit.update.is_empty() && edit.delete.is_empty() {
            w.push("`edit` names no roles: only `admin` keys can edit this live layer".into());
        }
    } else if l.features.is_empty() {
        w.push("the layer has no features".into());
    }
    if let Access::Internal { roles: wanted } = &d.access {
        if wanted.is_empty() {
            w.push(
                "`access.roles = []`: only `admin` keys see this layer; name the roles that should"
                    .into(),
            );
        }
        match roles {
            Some(held) => {
                for r in wanted.iter().filter(|r| !held.contains(*r)) {
                    let known: Vec<&str> = held.iter().map(String::as_str).collect();
                    w.push(format!(
                        "role `{r}` is held by no key in {} (keys hold: {}); a typo?",
                        keys.display(),
                        if known.is_empty() { "none".into() } else { known.join(", ") }
                    ));
                }
            }
            None if !wanted.is_empty() => w.push(format!(
                "no keys file at {}: nobody can see this internal layer yet (`chizu keys add NAME --role {}`)",
                keys.display(),
                wanted[0]
            )),
            None => {}
        }
    }
    if let Some(c) = &d.style.colour_by {
        if l.field_index(c).is_none() {
            w.push(format!("`style.colour_by = \"{c}\"` names no served field"));
        }
    }
    if let Some(c) = &d.style.label {
        if l.field_index(c).is_none() {
            w.push(format!("`style.label = \"{c}\"` names no served field"));
        }
    }
    w
}

/// Cuts every layer's tiles up to [`BUDGET_SCAN_MAXZOOM`], layers in parallel.
fn budget_scans(
    catalog: &chizu::store::Catalog,
) -> anyhow::Result<std::collections::BTreeMap<String, chizu::export::BudgetScan>> {
    let layers: Vec<_> = catalog.layers().cloned().collect();
    let scans = chizu::par_map(&layers, super::threads(None), |l| {
        chizu::export::budget_scan(l, BUDGET_SCAN_MAXZOOM)
    });
    layers
        .iter()
        .zip(scans)
        .map(|(l, r)| Ok((l.def.id.to_string(), r?)))
        .collect()
}

/// Per zoom, what the "too small to see" rules take out of the layer's tiles.
fn print_size_rules(out: &mut impl std::io::Write, l: &LayerSnapshot) -> std::io::Result<()> {
    let zooms = l.size_rules.zooms(false, l.def.minzoom, l.def.maxzoom);
    if zooms.is_empty() {
        return Ok(());
    }
    let n = l.features.len();
    // Consecutive zooms with the same counts are one range: "z0–5: 27 polygons merged".
    let mut parts: Vec<String> = Vec::new();
    let mut k = 0;
    while k < zooms.len() {
        let z = &zooms[k];
        let mut end = k;
        while end + 1 < zooms.len()
            && zooms[end + 1].zoom == zooms[end].zoom + 1
            && (zooms[end + 1].lines_dropped, zooms[end + 1].polygons_merged)
                == (z.lines_dropped, z.polygons_merged)
        {
            end += 1;
        }
        let mut s = if end > k {
            format!("z{}–{}:", z.zoom, zooms[end].zoom)
        } else {
            format!("z{}:", z.zoom)
        };
        if z.lines_dropped > 0 {
            let _ = write!(s, " {} lines not drawn", z.lines_dropped);
        }
        if z.polygons_merged > 0 {
            let _ = write!(s, " {} polygons merged", z.polygons_merged);
        }
        parts.push(s);
        k = end + 1;
    }
    let hint = if zooms.iter().any(|z| z.lines_dropped > 0) {
        "; features under a pixel are not drawn one by one (set `tiny_area = 0` to keep all)"
    } else {
        "; tiny polygons are drawn as squares of their total area (set `tiny_area = 0` to keep all)"
    };
    writeln!(
        out,
        "    size rules (of {n} features): {}{hint}",
        parts.join(", ")
    )
}

/// The budget line of one layer: its largest tile, and where it had to be trimmed.
fn print_budget(
    out: &mut impl std::io::Write,
    l: &LayerSnapshot,
    scan: &chizu::export::BudgetScan,
) -> std::io::Result<()> {
    let largest = scan.largest.as_ref().map_or_else(
        || "no tiles".to_string(),
        |(t, b)| format!("largest {t} {b} bytes"),
    );
    let (lo, hi) = scan.zooms;
    if scan.trimmed_tiles == 0 {
        writeln!(
            out,
            "    tiles z{lo}–{hi}: {} cut, {largest}; within the budget of {} bytes / {} features",
            scan.tiles, l.def.max_tile_bytes, l.def.max_tile_features
        )
    } else {
        let zooms: Vec<String> = scan.trimmed_zooms.iter().map(|z| format!("z{z}")).collect();
        writeln!(
            out,
            "    warning: tile budget ({} bytes / {} features) hit at {}: {} tiles trimmed, {} features dropped (least significant first); raise max_tile_bytes or minzoom to keep them",
            l.def.max_tile_bytes,
            l.def.max_tile_features,
            zooms.join(", "),
            scan.trimmed_tiles,
            scan.dropped_features
        )
    }
}

/// `(fids 3, 17, 42 …)` for a reason, when ids are known.
fn ids(stats: &chizu::ingest::SourceStats, why: &str) -> String {
    match stats.examples.get(why) {
        Some(ids) if !ids.is_empty() => {
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let more = if list.len() >= chizu::ingest::EXAMPLE_IDS {
                " …"
            } else {
                ""
            };
            format!(" (FID {}{more})", list.join(", "))
        }
        _ => String::new(),
    }
}

/// One layer's part of `chizu check`: sources, CRS, encoding, counts, fields.
fn print_layer(out: &mut impl std::io::Write, l: &LayerSnapshot) -> std::io::Result<()> {
    let t = l.report.totals();
    let access = match &l.def.access {
        Access::Public => "public".to_string(),
        Access::Internal { roles } => format!("internal [{}]", roles.join(", ")),
    };
    writeln!(
        out,
        "✔ {}  {} / {}  ({access}, {:?}, z{}–{})",
        l.def.id, l.def.title.ja, l.def.title.en, l.def.geometry, l.def.minzoom, l.def.maxzoom
    )?;
    for s in &l.report.sources {
        let enc = s.encoding.as_ref().map_or_else(
            || "n/a".to_string(),
            |e| format!("{} ({})", e.name, e.origin),
        );
        writeln!(out, "    {}  [{} layer `{}`]", s.path, s.driver, s.layer)?;
        writeln!(
            out,
            "      CRS {} ({}); encoding {enc}",
            s.crs.description, s.crs.origin
        )?;
        writeln!(
            out,
            "      {} read, {} kept, {} repaired, {} trimmed, {} dropped",
            s.stats.read, s.stats.kept, s.stats.repaired, s.stats.trimmed, s.stats.dropped
        )?;
        for (n, key, what) in [
            (
                s.stats.repaired,
                "repaired",
                "invalid geometry made valid by GEOS",
            ),
            (s.stats.trimmed, "trimmed", "unusable parts removed"),
        ] {
            if n > 0 {
                writeln!(out, "        {key} {n} ({what}){}", ids(&s.stats, key))?;
            }
        }
        for (why, n) in &s.stats.drop_reasons {
            writeln!(out, "        dropped {n}: {why}{}", ids(&s.stats, why))?;
        }
    }
    let fields: Vec<String> = l
        .fields
        .iter()
        .map(|f| {
            format!(
                "{}:{}{}",
                f.name,
                f.kind.as_str(),
                if f.internal { " (internal)" } else { "" }
            )
        })
        .collect();
    writeln!(out, "    fields: {}", fields.join(", "))?;
    if let Some(edit) = &l.def.live {
        return print_live(out, l, edit);
    }
    writeln!(
        out,
        "    {} features ({} repaired, {} trimmed, {} dropped) in {} ms",
        l.features.len(),
        t.repaired,
        t.trimmed,
        t.dropped,
        l.report.elapsed_ms
    )
}

/// A live layer's part of `chizu check`: where its features are kept, who edits them,
/// residents' reports and sensors.
fn print_live(
    out: &mut impl std::io::Write,
    l: &LayerSnapshot,
    edit: &chizu::config::EditCfg,
) -> std::io::Result<()> {
    let roles = |r: &[String]| {
        if r.is_empty() {
            "admin".to_string()
        } else {
            format!("{}, admin", r.join(", "))
        }
    };
    writeln!(
        out,
        "    live: features kept in the state database (--state, default state/live.sqlite; or --database postgres://…); create: {}; update: {}; delete: {}",
        roles(&edit.create),
        roles(&edit.update),
        roles(&edit.delete)
    )?;
    if let Some(r) = &l.def.reports {
        writeln!(
            out,
            "    residents' reports: `{}`{} from the public listener, {} an hour per address, unpublished until staff publish them",
            r.category,
            r.text.as_ref().map(|t| format!(" and `{t}`")).unwrap_or_default(),
            r.per_hour
        )?;
    }
    if let Some(s) = &l.def.sensor {
        let levels: Vec<String> = s
            .levels
            .iter()
            .map(|v| format!("{} (`{}`)", v.label.ja, v.field))
            .collect();
        writeln!(
            out,
            "    sensor: readings{} posted by {}; a station silent for over {} is flagged stale; levels: {}",
            if s.unit.is_empty() { String::new() } else { format!(" in {}", s.unit) },
            roles(&s.roles),
            humantime::format_duration(s.interval),
            if levels.is_empty() { "none".to_string() } else { levels.join(" < ") }
        )?;
    }
    Ok(())
}
