//! `chizu check`: load every layer without serving, report, exit non-zero on any error.

use std::io::Write as _;
use std::process::ExitCode;

/// Zooms up to which `check` cuts every tile to test the per-tile budgets: beyond z14 a
/// city's tiles only get smaller, and the scan stays within seconds.
const BUDGET_SCAN_MAXZOOM: u8 = 14;

pub fn run(root: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    if !root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            root.display()
        );
    }
    let loaded = chizu::load_root(root, super::threads(None));
    let scans = budget_scans(&loaded.catalog)?;
    let mut out = std::io::stdout().lock();
    if json {
        let layers: Vec<serde_json::Value> = loaded
            .catalog
            .layers()
            .map(|l| {
                serde_json::json!({
                    "id": l.def.id,
                    "file": l.def.file.display().to_string(),
                    "features": l.features.len(),
                    "fields": l.fields,
                    "report": l.report,
                    "tile_budget": {
                        "max_bytes": l.def.max_tile_bytes,
                        "max_features": l.def.max_tile_features,
                        "scan": scans.get(l.def.id.as_str()),
                    },
                })
            })
            .collect();
        let doc = serde_json::json!({ "layers": layers, "errors": loaded.errors });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for l in loaded.catalog.layers() {
            print_layer(&mut out, l)?;
            if let Some(scan) = scans.get(l.def.id.as_str()) {
                print_budget(&mut out, l, scan)?;
            }
        }
        for e in &loaded.errors {
            writeln!(out, "✘ {e}")?;
        }
        writeln!(
            out,
            "{} layers loaded, {} failed",
            loaded.catalog.layers().count(),
            loaded.errors.len()
        )?;
    }
    Ok(if loaded.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

/// The budget line of one layer: its largest tile, and where it had to be trimmed.
fn print_budget(
    out: &mut impl std::io::Write,
    l: &chizu::store::LayerSnapshot,
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

/// One layer's part of `chizu check`: sources, CRS, encoding, counts, fields.
fn print_layer(
    out: &mut impl std::io::Write,
    l: &chizu::store::LayerSnapshot,
) -> std::io::Result<()> {
    let t = l.report.totals();
    let access = match &l.def.access {
        chizu::config::Access::Public => "public".to_string(),
        chizu::config::Access::Internal { roles } => {
            format!("internal [{}]", roles.join(", "))
        }
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
            "      {} read, {} kept, {} repaired, {} dropped",
            s.stats.read, s.stats.kept, s.stats.repaired, s.stats.dropped
        )?;
        for (why, n) in &s.stats.drop_reasons {
            writeln!(out, "        dropped {n}: {why}")?;
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
    writeln!(
        out,
        "    {} features ({} repaired, {} dropped) in {} ms",
        l.features.len(),
        t.repaired,
        t.dropped,
        l.report.elapsed_ms
    )?;
    for w in &l.report.warnings {
        writeln!(out, "    warning: {w}")?;
    }
    Ok(())
}
