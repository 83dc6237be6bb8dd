//! `chizu inspect FILE`: what chizu sees in a GIS file, and a starting layer TOML.

use std::io::Write as _;
use std::process::ExitCode;

pub fn run(file: &std::path::Path, root: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let ins = chizu::ingest::inspect::inspect(file)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&ins)?)?;
        return Ok(ExitCode::SUCCESS);
    }
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
    let abs_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let abs_file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let rel = abs_file
        .strip_prefix(&abs_root)
        .unwrap_or(&abs_file)
        .to_string_lossy()
        .into_owned();
    writeln!(
        out,
        "\n{}",
        chizu::ingest::inspect::starter_toml(&ins, &rel)
    )?;
    Ok(ExitCode::SUCCESS)
}
