//! `chizu inspect FILE|DIR`: what chizu sees in a GIS file, and a starting layer TOML for
//! each of its layers; on a folder, one starting file per dataset written to `layers/`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chizu::ingest::inspect::{self, Inspection};

/// The path of `file` relative to `root`, with `/` separators, for a layer file.
fn relative(root: &Path, file: &Path) -> String {
    let abs_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let abs_file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    abs_file
        .strip_prefix(&abs_root)
        .unwrap_or(&abs_file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Layer ids already used by files in `ROOT/layers/`.
fn taken_ids(root: &Path) -> BTreeSet<String> {
    chizu::config::load_dir(&root.join("layers"))
        .0
        .into_iter()
        .map(|d| d.id.to_string())
        .chain(
            std::fs::read_dir(root.join("layers"))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let p = e.path();
                    if p.extension()? == "toml" {
                        Some(p.file_stem()?.to_string_lossy().into_owned())
                    } else {
                        None
                    }
                }),
        )
        .collect()
}

pub fn run(target: &Path, root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    if target.is_dir() {
        return run_dir(target, root, json);
    }
    let ins = inspect::inspect(target)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&ins)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    describe(&mut out, &ins)?;
    let rel = relative(root, target);
    let mut taken = taken_ids(root);
    for i in 0..ins.layers.len() {
        let id = inspect::starter_id(&ins, i, &rel, &mut taken);
        writeln!(out, "\n{}", inspect::starter_toml(&ins, i, &id, &rel))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(out: &mut impl std::io::Write, ins: &Inspection) -> std::io::Result<()> {
    writeln!(out, "{}  [{}]", ins.file, ins.driver)?;
    if let Some(e) = &ins.encoding {
        writeln!(out, "encoding: {} ({})", e.name, e.origin)?;
    }
    for l in &ins.layers {
        writeln!(
            out,
            "layer `{}`: {} features, {}",
            l.name, l.features, l.geometry
        )?;
        writeln!(out, "  CRS: {}", l.crs)?;
        if let Some(b) = l.extent_lonlat {
            writeln!(
                out,
                "  extent (lon/lat): {:.5}, {:.5} – {:.5}, {:.5}",
                b[0], b[1], b[2], b[3]
            )?;
        }
        writeln!(out, "  fields:")?;
        for ((name, ty), (_, sample)) in l.fields.iter().zip(&l.sample) {
            writeln!(out, "    {name}: {ty}    e.g. {sample}")?;
        }
    }
    Ok(())
}

/// Inspects every dataset under `dir` and writes a starting layer file for each of its
/// layers into `ROOT/layers/` (never over an existing file).
fn run_dir(dir: &Path, root: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let layers_dir = root.join("layers");
    std::fs::create_dir_all(&layers_dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", layers_dir.display()))?;
    let mut taken = taken_ids(root);
    let mut out = std::io::stdout().lock();
    let mut written = Vec::new();
    let mut skipped = Vec::new();
    let files = inspect::datasets_under(dir);
    for file in &files {
        let rel = relative(root, file);
        let ins = match inspect::inspect(file) {
            Ok(i) => i,
            Err(e) => {
                skipped.push(serde_json::json!({ "file": rel, "reason": e.to_string() }));
                if !json {
                    writeln!(out, "skipped {rel}: {e}")?;
                }
                continue;
            }
        };
        for (i, l) in ins.layers.iter().enumerate() {
            let id = inspect::starter_id(&ins, i, &rel, &mut taken);
            let path = layers_dir.join(format!("{id}.toml"));
            std::fs::write(&path, inspect::starter_toml(&ins, i, &id, &rel))
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
            if !json {
                writeln!(
                    out,
                    "wrote layers/{id}.toml  ← {rel}{}  ({} features, {})",
                    if ins.layers.len() > 1 {
                        format!(" layer `{}`", l.name)
                    } else {
                        String::new()
                    },
                    l.features,
                    l.geometry
                )?;
            }
            written.push(serde_json::json!({ "id": id, "file": rel, "layer": l.name, "toml": format!("layers/{id}.toml") }));
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "written": written, "skipped": skipped })
            )?
        )?;
    } else {
        writeln!(
            out,
            "{} starting layer files written, {} files skipped. Next: edit the TODOs in each, then `chizu check --root {}`.",
            written.len(),
            skipped.len(),
            root.display()
        )?;
    }
    Ok(if files.is_empty() {
        eprintln!("{}: no GIS files found", dir.display());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
