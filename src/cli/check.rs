//! `chizu check`: load every layer without serving, report, exit non-zero on any error.

use std::io::Write as _;
use std::process::ExitCode;

pub fn run(root: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    if !root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            root.display()
        );
    }
    let loaded = chizu::load_root(root, super::threads(None));
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
                })
            })
            .collect();
        let doc = serde_json::json!({ "layers": layers, "errors": loaded.errors });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for l in loaded.catalog.layers() {
            print_layer(&mut out, l)?;
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
