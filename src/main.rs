//! The `chizu` command line: serve, check, inspect, keys.

mod cli;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use chizu::http::HttpSettings;

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

/// `chizu serve`'s options.
#[derive(clap::Args)]
struct ServeOpts {
    /// Folder holding `layers/`, `styles/` and `data/`.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Address of the public listener; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    public: SocketAddr,
    /// Address of the internal listener (Bearer keys); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081")]
    internal: SocketAddr,
    /// Keys file (default: ROOT/keys.toml).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Where the internal listener's audit lines go: a file (appended), or `-` for stdout.
    #[arg(long, default_value = "-")]
    audit_log: String,
    /// Also accept a random admin key for this run only, printed at start (for trying chizu out).
    #[arg(long)]
    demo_key: bool,
    /// Origin allowed to call the internal listener from a browser (repeatable; default none).
    #[arg(long = "internal-cors", value_name = "ORIGIN")]
    internal_cors: Vec<String>,
    /// Tile cache size in MiB (0 disables it).
    #[arg(long, default_value_t = 256)]
    cache_size: u64,
    /// Cache-Control max-age for tiles and TileJSON, in seconds.
    #[arg(long, default_value_t = 300)]
    max_age: u32,
    /// Base URL written into TileJSON (default: http:// + the request's Host).
    #[arg(long)]
    base_url: Option<String>,
    /// Threads used to load layers at start (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// A raster basemap under every style, as an XYZ URL template (e.g. 地理院タイル's
    /// cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png with its https scheme); off by
    /// default so the map works on a closed network.
    #[arg(long, value_name = "URL")]
    raster_basemap: Option<String>,
    /// Attribution shown for --raster-basemap.
    #[arg(long, default_value = "地理院タイル")]
    raster_attribution: String,
    /// Requests handled at once per listener; beyond it chizu answers 503 + Retry-After.
    #[arg(long, default_value_t = 512)]
    max_concurrent: usize,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Percent of its features a layer may lose in one reload; a reload losing more is
    /// held back (stale) until accepted with `chizu reload --accept LAYER`.
    #[arg(long, default_value_t = 10.0)]
    max_shrink: f64,
    /// After every load, cut the public map's tiles from its lowest zoom up to this one
    /// into the tile cache in the background, while no request is being answered, within
    /// a quarter of `--cache-size` (the first visitors' low-zoom tiles are the costliest).
    #[arg(long, default_value_t = 13, value_parser = clap::value_parser!(u8).range(0..=16))]
    precut_zoom: u8,
    /// Do not pre-cut: every tile is cut when it is first asked for.
    #[arg(long)]
    no_precut: bool,
    /// Folder of the live layers' database (default: ROOT/state).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Keep the live layers in PostgreSQL/PostGIS instead (`postgres://user@host/db`), so
    /// several servers share them; each serves the others' changes within a second.
    #[arg(
        long,
        value_name = "URL",
        env = "CHIZU_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Open connections per listener at most (default: from the descriptor limit,
    /// keeping a reserve for the internal listener).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Seconds a connection may go without sending or reading a byte (idle keep-alive,
    /// clients that stop reading) before it is closed.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds requests in flight get to finish after SIGTERM.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the layers under --root: the public view (公開型GIS) and the internal view (統合型GIS).
    Serve(Box<ServeOpts>),
    /// Ask a running server to reload now, optionally accepting layers held back because
    /// their new files hold far fewer features.
    Reload {
        /// A layer whose new snapshot to take however much it shrank (repeatable).
        #[arg(long = "accept", value_name = "LAYER")]
        accept: Vec<String>,
        /// The internal listener.
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        url: String,
        /// An admin key (or set `CHIZU_KEY`).
        #[arg(long, env = "CHIZU_KEY", hide_env_values = true)]
        key: String,
    },
    /// Load every layer without serving; report per layer; exit non-zero on any error.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Warnings fail too (exit 1), for CI of a city's layer files.
        #[arg(long)]
        strict: bool,
        /// The keys file whose roles internal layers are checked against (default ROOT/keys.toml).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Show what chizu sees in a GIS file, and print a starting layer TOML for it.
    Inspect {
        /// A Shapefile, GeoJSON, GeoPackage, CSV with 緯度/経度, KML, GML …; or a folder,
        /// whose every dataset gets a starting layer file written to ROOT/layers/.
        file: PathBuf,
        /// Folder the TOML's `path` is made relative to.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Print the inspection as JSON (no TOML).
        #[arg(long)]
        json: bool,
    },
    /// Make a minimal root: a commented site.toml, empty layers/ and data/.
    Init {
        /// The folder to make (it may exist; nothing in it is overwritten).
        dir: PathBuf,
    },
    /// Write a tile pyramid to PMTiles or MBTiles (the public view unless --view internal).
    Export {
        /// The output file: OUT.pmtiles or OUT.mbtiles.
        out: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Layers to export, comma-separated (default: every layer of the view).
        #[arg(long)]
        layers: Option<String>,
        #[arg(long, default_value_t = 0)]
        minzoom: u8,
        #[arg(long, default_value_t = 14)]
        maxzoom: u8,
        /// Whose view to export: `public` (default), or `internal` with --key.
        #[arg(long, value_enum, default_value = "public")]
        view: ExportView,
        /// With --view internal: export what this API key's roles may see.
        #[arg(long)]
        key: Option<String>,
        /// Keys file (default: ROOT/keys.toml).
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Threads cutting tiles (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Manage API keys of the internal view.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[arg(long, default_value = ".", global = true)]
        root: PathBuf,
        /// Keys file (default: ROOT/keys.toml).
        #[arg(long, global = true)]
        keys: Option<PathBuf>,
    },
}

/// The view `export` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportView {
    Public,
    Internal,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key and print it once (only its hash is stored).
    Add {
        name: String,
        /// A role the key holds (repeatable), e.g. doro-kanri, kiki-kanri, toshi-keikaku, admin.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// List keys: names, roles, creation times (never the keys).
    List,
    /// Remove a key; a running server refuses it from its next request.
    Revoke { name: String },
}

/// mimalloc instead of glibc's malloc: under load, glibc's malloc/free (with
/// `malloc_consolidate`) took about a tenth of the cached-tile path when profiled.
/// Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its
/// arenas, and every fresh 2 MB the tile cutter touched was zeroed by the kernel —
/// 13–16 % of a fresh tile's server time under `perf` (`clear_page_erms`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `chizu serve` with its options.
fn serve(o: ServeOpts) -> anyhow::Result<ExitCode> {
    let ServeOpts {
        root,
        public,
        internal,
        keys,
        audit_log,
        demo_key,
        internal_cors,
        cache_size,
        max_age,
        base_url,
        threads,
        raster_basemap,
        raster_attribution,
        max_concurrent,
        request_timeout,
        max_shrink,
        precut_zoom,
        no_precut,
        state,
        database,
        max_connections,
        idle_timeout,
        header_timeout,
        shutdown_grace,
    } = o;
    cli::serve::run(cli::serve::ServeArgs {
        max_connections,
        idle_timeout: std::time::Duration::from_secs(idle_timeout.max(1)),
        header_timeout: std::time::Duration::from_secs(header_timeout.max(1)),
        shutdown_grace: std::time::Duration::from_secs(shutdown_grace),
        keys: keys.unwrap_or_else(|| root.join("keys.toml")),
        storage: match database {
            Some(url) => chizu::live::Storage::Postgres(url),
            None => chizu::live::Storage::Sqlite(state.unwrap_or_else(|| root.join("state"))),
        },
        settings: HttpSettings {
            max_age,
            base_url,
            internal_cors,
            cache_bytes: cache_size << 20,
            web_root: root.join("web"),
            raster_basemap: raster_basemap.map(|url| chizu::style::RasterBasemap {
                url,
                attribution: raster_attribution,
            }),
            max_concurrent,
            request_timeout: std::time::Duration::from_secs(request_timeout.max(1)),
            root: Some(root.clone()),
            max_shrink: (max_shrink / 100.0).clamp(0.0, 1.0),
            precut_zoom: (!no_precut && cache_size > 0).then_some(precut_zoom),
        },
        root,
        public,
        internal,
        audit_log,
        demo_key,
        threads: cli::threads(threads),
    })
}

/// Logs go to stderr (`RUST_LOG` filters, default `info`), GDAL's messages among them.
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    chizu::route_gdal_messages();
}

fn main() -> ExitCode {
    init_logging();
    let result = match Cli::parse().command {
        Command::Serve(o) => serve(*o),
        Command::Check {
            root,
            json,
            strict,
            keys,
        } => {
            let keys = keys.unwrap_or_else(|| root.join("keys.toml"));
            cli::check::run(&root, &keys, json, strict)
        }
        Command::Init { dir } => cli::init::run(&dir),
        Command::Reload { accept, url, key } => cli::reload::run(&url, &key, &accept),
        Command::Export {
            out,
            root,
            layers,
            minzoom,
            maxzoom,
            view,
            key,
            keys,
            threads,
        } => match (view, &key) {
            (ExportView::Internal, None) => Err(anyhow::anyhow!(
                "--view internal needs --key KEY (the layers its roles may see)"
            )),
            (ExportView::Public, Some(_)) => Err(anyhow::anyhow!(
                "--key is for --view internal; the public view needs no key"
            )),
            _ => cli::export::run(&cli::export::ExportArgs {
                out,
                keys: keys.unwrap_or_else(|| root.join("keys.toml")),
                root,
                layers,
                minzoom,
                maxzoom,
                key,
                threads: cli::threads(threads),
            }),
        },
        Command::Inspect { file, root, json } => cli::inspect::run(&file, &root, json),
        Command::Keys { action, root, keys } => {
            let file = keys.unwrap_or_else(|| root.join("keys.toml"));
            match action {
                KeysAction::Add { name, roles } => cli::keys::add(&file, &name, &roles),
                KeysAction::List => cli::keys::list(&file),
                KeysAction::Revoke { name } => cli::keys::revoke(&file, &name),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "chizu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
