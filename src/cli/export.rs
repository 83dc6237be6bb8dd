//! `chizu export OUT.pmtiles|OUT.mbtiles`: write a tile pyramid for offline use or a CDN.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chizu::access::View;

/// What `export` was asked to do.
pub struct ExportArgs {
    pub out: PathBuf,
    pub root: PathBuf,
    pub layers: Option<String>,
    pub minzoom: u8,
    pub maxzoom: u8,
    pub key: Option<String>,
    pub keys: PathBuf,
    pub threads: usize,
}

pub fn run(a: &ExportArgs) -> anyhow::Result<ExitCode> {
    if !a.root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            a.root.display()
        );
    }
    // The public view unless a key says otherwise: an export is as open as its view.
    let view = match &a.key {
        None => View::Public,
        Some(k) => {
            let ring = chizu::access::keys::KeyRing::open(&a.keys)?;
            let p = ring
                .authenticate(k)
                .ok_or_else(|| anyhow::anyhow!("--key: not a valid key in {}", a.keys.display()))?;
            View::Internal(p)
        }
    };
    let loaded = chizu::load_root(&a.root, a.threads);
    for e in &loaded.errors {
        tracing::warn!("{e}");
    }
    let visible: Vec<Arc<chizu::store::LayerSnapshot>> = loaded
        .catalog
        .layers()
        .filter(|l| view.sees_layer(&l.def))
        .cloned()
        .collect();
    let layers = match &a.layers {
        None => visible,
        Some(spec) => spec
            .split(',')
            .map(|id| {
                visible
                    .iter()
                    .find(|l| l.def.id.as_str() == id)
                    .cloned()
                    .ok_or_else(|| {
                        let ids: Vec<&str> = visible.iter().map(|l| l.def.id.as_str()).collect();
                        anyhow::anyhow!(
                            "--layers: no layer `{id}` in this view; layers: {}",
                            ids.join(", ")
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let tty = std::io::stderr().is_terminal();
    let progress = move |done: usize, total: usize| {
        if tty {
            let pct = done * 100 / total.max(1);
            let bar = "█".repeat(pct / 4);
            let _ = write!(
                std::io::stderr(),
                "\r{bar:<25} {pct:>3}%  {done}/{total} tiles"
            );
            if done == total {
                let _ = writeln!(std::io::stderr());
            }
        }
    };
    let s = chizu::export::export(
        &a.out, &layers, &view, a.minzoom, a.maxzoom, a.threads, &progress,
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} tiles written ({} visited), {:.1} MiB",
        display(&a.out),
        s.tiles_written,
        s.tiles_visited,
        s.bytes as f64 / 1_048_576.0
    )?;
    if let Some((t, n)) = &s.largest {
        writeln!(out, "largest tile {t}: {:.1} KiB", *n as f64 / 1024.0)?;
    }
    writeln!(
        out,
        "{:.2} s on {} threads",
        s.elapsed.as_secs_f64(),
        a.threads
    )?;
    Ok(ExitCode::SUCCESS)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
