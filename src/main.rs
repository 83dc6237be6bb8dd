//! The `chizu` command line: serve, check, inspect.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use chizu::access::View;
use chizu::http::{router, AppState, HttpSettings};

#[derive(Parser)]
#[command(
    name = "chizu",
    version,
    about = "GIS tile and map-layer server for Japanese municipalities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the layers under --root: vector tiles, TileJSON, catalog, health.
    Serve {
        /// Folder holding `layers/`, `styles/` and `data/`.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Address of the public listener (公開型GIS); port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        public: SocketAddr,
        /// Cache-Control max-age for tiles and TileJSON, in seconds.
        #[arg(long, default_value_t = 300)]
        max_age: u32,
        /// Base URL written into TileJSON (default: http:// + the request's Host).
        #[arg(long)]
        base_url: Option<String>,
        /// Threads used to load layers at start (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Load every layer without serving; report per layer; exit non-zero on any error.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what chizu sees in a GIS file, and print a starting layer TOML for it.
    Inspect {
        /// A Shapefile, GeoJSON, GeoPackage, CSV with 緯度/経度, KML …
        file: PathBuf,
        /// Folder the TOML's `path` is made relative to.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Print the inspection as JSON (no TOML).
        #[arg(long)]
        json: bool,
    },
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    chizu::route_gdal_messages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            root,
            public,
            max_age,
            base_url,
            threads: t,
        } => serve(
            &root,
            public,
            HttpSettings { max_age, base_url },
            threads(t),
        ),
        Command::Check { root, json } => check(&root, json),
        Command::Inspect { file, root, json } => inspect(&file, &root, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "chizu: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    root: &std::path::Path,
    public: SocketAddr,
    settings: HttpSettings,
    threads: usize,
) -> anyhow::Result<ExitCode> {
    if !root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            root.display()
        );
    }
    let started = std::time::Instant::now();
    let loaded = chizu::load_root(root, threads);
    for e in &loaded.errors {
        tracing::error!("{e}");
    }
    let count = loaded.catalog.layers().count();
    tracing::info!(
        layers = count,
        failed = loaded.catalog.failed().len(),
        ms = started.elapsed().as_millis() as u64,
        "layers loaded"
    );
    let state = AppState::new(loaded.catalog, settings);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(public)
            .await
            .with_context(|| format!("cannot listen on {public} (public)"))?;
        let addr = listener.local_addr()?;
        tracing::info!("public view (公開型GIS) on http://{addr}");
        let app = router(state, View::Public);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn check(root: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    if !root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            root.display()
        );
    }
    let loaded = chizu::load_root(root, threads(None));
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

fn inspect(file: &std::path::Path, root: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
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
