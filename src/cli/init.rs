//! `chizu init DIR`: a minimal root — a commented `site.toml`, empty `layers/` and `data/` —
//! so a city starts from files, not from a copy of the sample.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    let mut made = Vec::new();
    for sub in ["layers", "data"] {
        let p = dir.join(sub);
        if !p.is_dir() {
            std::fs::create_dir_all(&p)
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", p.display()))?;
            made.push(format!("{sub}/"));
        }
    }
    let site = dir.join("site.toml");
    if site.exists() {
        made.push("(site.toml exists: left as it is)".into());
    } else {
        std::fs::write(&site, chizu::config::site::STARTER)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", site.display()))?;
        made.push("site.toml".into());
    }
    let d = dir.display();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{d}: {}", made.join(", "))?;
    writeln!(
        out,
        "Next:\n  1. copy your GIS files into {d}/data/\n  2. chizu inspect {d}/data --root {d}      (one starting layer file per dataset)\n  3. edit {d}/layers/*.toml and {d}/site.toml, then: chizu check --root {d}\n  4. chizu serve --root {d}"
    )?;
    Ok(ExitCode::SUCCESS)
}
