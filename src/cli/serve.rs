//! `chizu serve`: load the layers, then run the public and the internal listener.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use chizu::access::keys::KeyRing;
use chizu::http::server::{self, ConnLimits, HostPolicy};
use chizu::http::{router, AppState, AuditLog, HttpSettings, InternalGate, Listener};

/// What `serve` was asked to do.
pub struct ServeArgs {
    pub root: PathBuf,
    pub public: SocketAddr,
    pub internal: SocketAddr,
    pub keys: PathBuf,
    /// Folder of the live layers' database.
    pub storage: chizu::live::Storage,
    pub audit_log: String,
    pub demo_key: bool,
    pub threads: usize,
    pub settings: HttpSettings,
    /// Open connections per listener (public; the internal one keeps its reserve).
    pub max_connections: Option<usize>,
    pub idle_timeout: std::time::Duration,
    pub header_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    if !a.root.join("layers").is_dir() {
        anyhow::bail!(
            "{}: no `layers/` folder here; pass --root DIR",
            a.root.display()
        );
    }
    let (keys, demo) = open_keys(&a.keys, a.demo_key)?;
    let audit = open_audit(&a.audit_log)?;

    if !chizu::http::has_maplibre()
        && !a
            .settings
            .web_root
            .join("vendor/maplibre-gl/maplibre-gl.mjs")
            .is_file()
    {
        tracing::warn!("this build holds no map viewer packages: run scripts/install-web.sh and rebuild (the API and tiles work without them)");
    }
    let started = std::time::Instant::now();
    let loaded = chizu::load_root(&a.root, a.threads);
    for e in &loaded.errors {
        tracing::error!("{e}");
    }
    tracing::info!(
        layers = loaded.catalog.layers().count(),
        failed = loaded.catalog.failed().len(),
        ms = started.elapsed().as_millis() as u64,
        "layers loaded"
    );
    let (public_limits, internal_limits) = conn_limits(&a);
    let state = AppState::new(loaded.catalog, a.settings);
    open_live(&state, &a.storage)?;
    let gate = Arc::new(InternalGate { keys, audit });
    // Kept alive for the life of the server.
    let _watcher = match watch(Arc::clone(&state), &a.root) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "not watching files for changes ({e}); reload with SIGHUP or POST /admin/reload"
            );
            None
        }
    };
    poll_databases(Arc::clone(&state), a.root.clone());

    let base_url_set = state.settings.base_url.is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let grace = a.shutdown_grace;
    let result = rt.block_on(async move {
        let public = tokio::net::TcpListener::bind(a.public)
            .await
            .with_context(|| format!("cannot listen on {} (public view)", a.public))?;
        let internal = tokio::net::TcpListener::bind(a.internal)
            .await
            .with_context(|| format!("cannot listen on {} (internal view)", a.internal))?;
        let (public_addr, internal_addr) = (public.local_addr()?, internal.local_addr()?);
        tracing::info!("public view (公開型GIS) on http://{public_addr}");
        tracing::info!("internal view (統合型GIS) on http://{internal_addr}");
        if let Some(key) = demo {
            // Printed, not logged: it is for the person at the terminal, valid for this run only.
            let _ = writeln!(
                std::io::stderr(),
                "demo key for http://{internal_addr} (role admin, this run only):\n  Authorization: Bearer {key}"
            );
        }
        reload_on_hangup(Arc::clone(&state));
        if let Some(top) = state.settings.precut_zoom {
            tokio::spawn(chizu::http::precut::keep(Arc::clone(&state), top));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stop_tx.send(true);
        });
        let public_srv = server::serve(
            public,
            router(Arc::clone(&state), Listener::Public),
            public_limits,
            HostPolicy::for_listener(public_addr, base_url_set),
            stop_rx.clone(),
        );
        let internal_srv = server::serve(
            internal,
            router(state, Listener::Internal(gate)),
            internal_limits,
            HostPolicy::for_listener(internal_addr, base_url_set),
            stop_rx,
        );
        tokio::join!(public_srv, internal_srv);
        anyhow::Ok(())
    });
    // Work still running (a tile being cut) is not waited for beyond the grace period.
    rt.shutdown_timeout(grace);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The keys file, plus the `--demo-key` if asked for (returned to be printed).
fn open_keys(path: &Path, demo_key: bool) -> anyhow::Result<(KeyRing, Option<String>)> {
    let mut keys = KeyRing::open(path)?;
    let demo = if demo_key {
        Some(keys.add_ephemeral("demo", &["admin"])?)
    } else {
        None
    };
    if keys.is_empty() {
        tracing::warn!(
            "no API keys in {}: the internal view refuses every request until you run `chizu keys add NAME --role ROLE`",
            path.display()
        );
    }
    Ok((keys, demo))
}

/// Both listeners' connection limits, from the descriptor limit (raised to its maximum).
fn conn_limits(a: &ServeArgs) -> (ConnLimits, ConnLimits) {
    let nofile = server::raise_descriptor_limit();
    let (public_cap, internal_cap) = server::default_caps(nofile);
    let limits = |cap| ConnLimits {
        max_connections: cap,
        header_timeout: a.header_timeout,
        idle_timeout: a.idle_timeout,
        grace: a.shutdown_grace,
    };
    let (public, internal) = (
        limits(a.max_connections.unwrap_or(public_cap)),
        limits(internal_cap),
    );
    tracing::info!(
        nofile,
        public = public.max_connections,
        internal = internal.max_connections,
        "connection caps"
    );
    (public, internal)
}

/// SIGHUP reloads what changed.
fn reload_on_hangup(app: Arc<AppState>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let app = Arc::clone(&app);
            let _ = tokio::task::spawn_blocking(move || log_reload(app.reload())).await;
        }
    });
    #[cfg(not(unix))]
    drop(app);
}

/// Opens the state database of the root's live layers, if it has any, and serves them.
fn open_live(state: &Arc<AppState>, storage: &chizu::live::Storage) -> anyhow::Result<()> {
    let live_defs = state.catalog.load().live_defs();
    if live_defs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = live_defs.iter().map(|d| d.id.as_str()).collect();
    let store = chizu::live::LiveStore::open(storage, &live_defs)
        .with_context(|| format!("live layers ({}) need their state database", ids.join(", ")))?;
    tracing::info!(database = %store.describe(), layers = live_defs.len(), "live layers open");
    state.attach_live(store);
    if live_defs.iter().any(|d| d.sensor.is_some()) {
        // A station's age and silence change with time alone.
        let app = Arc::clone(state);
        std::thread::Builder::new()
            .name("chizu-live-clock".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if let Some(store) = app.live() {
                    store.tick(&app.catalog);
                }
            })?;
    }
    if matches!(storage, chizu::live::Storage::Postgres(_)) {
        // Other servers' changes, heard from the database and served here.
        let app = Arc::clone(state);
        std::thread::Builder::new()
            .name("chizu-live-follow".into())
            .spawn(move || {
                if let Some(store) = app.live() {
                    store.follow(&app.catalog);
                }
            })?;
    }
    Ok(())
}

fn log_reload(s: Option<chizu::reload::ReloadSummary>) {
    if let Some(s) = s {
        tracing::info!(reloaded = ?s.reloaded, failed = s.failed.len(), removed = ?s.removed, unchanged = s.unchanged, "reload done");
    }
}

/// Quiet time after the last file event before reloading (editors write in bursts).
const SETTLE: std::time::Duration = std::time::Duration::from_millis(700);

/// Watches `layers/`, `data/` and `styles/`; reloads on a dedicated thread once changes settle.
fn watch(app: Arc<AppState>, root: &Path) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel::<notify::Result<notify::Event>>();
    let mut w = notify::recommended_watcher(tx)?;
    for dir in ["layers", "data", "styles"] {
        let p = root.join(dir);
        if p.is_dir() {
            w.watch(&p, RecursiveMode::Recursive)?;
        }
    }
    std::thread::Builder::new()
        .name("chizu-reload".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                if first.as_ref().is_ok_and(|e| {
                    e.kind.is_access() || e.paths.iter().all(|p| chizu::ingest::is_side_file(p))
                }) {
                    continue;
                }

                // Drain the burst, then reload once.
                while rx.recv_timeout(SETTLE).is_ok() {}
                tracing::info!("files changed: reloading");
                log_reload(app.reload());
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(w)
}

/// How often the poller wakes to see which database sources are due.
const POLL_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Asks each layer's database sources (`path = "PG:…"`) whether their tables changed, each
/// at its `poll_seconds`, and reloads when one did — the reload re-reads only the layers whose
/// fingerprint moved, and a failed read keeps the previous snapshot serving. A table that
/// cannot be asked (database down) is reloaded once, which reports the layer stale, and again
/// once it answers. Layer files are parsed again whenever one changes, so a layer added later,
/// or one whose database was down at start-up, is polled too.
fn poll_databases(app: Arc<AppState>, root: std::path::PathBuf) {
    use std::collections::HashMap;
    use std::time::Instant;
    let spawned = std::thread::Builder::new()
        .name("chizu-db-poll".into())
        .spawn(move || {
            let mut seen: HashMap<String, u64> = HashMap::new();
            let mut due: HashMap<String, Instant> = HashMap::new();
            let layers = root.join("layers");
            let (mut stamp, mut defs) = (None, Vec::new());
            loop {
                std::thread::sleep(POLL_TICK);
                // The layer files are parsed again only when one of them changed.
                let now_stamp = chizu::reload::dir_stamp(&layers, "toml");
                if stamp != Some(now_stamp) {
                    defs = chizu::config::load_dir(&layers).0;
                    stamp = Some(now_stamp);
                }
                let now = Instant::now();
                let catalog = app.catalog.load_full();
                let mut changed = Vec::new();
                for def in &defs {
                    let Some(every) = def
                        .sources
                        .iter()
                        .filter(|s| s.database().is_some())
                        .map(chizu::config::SourceCfg::poll_interval)
                        .min()
                    else {
                        continue;
                    };
                    let id = def.id.to_string();
                    if due.get(&id).is_some_and(|t| *t > now) {
                        continue;
                    }
                    due.insert(id.clone(), now + every);
                    let fp = chizu::reload::fingerprint(&root, def);
                    let before = *seen
                        .entry(id.clone())
                        .or_insert_with(|| catalog.fingerprint(&id));
                    if fp != before {
                        seen.insert(id.clone(), fp);
                        changed.push(id);
                    }
                }
                if !changed.is_empty() {
                    tracing::info!(layers = ?changed, "database tables changed: reloading");
                    log_reload(app.reload());
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(
            "not polling database sources ({e}); reload with SIGHUP or POST /admin/reload"
        );
    }
}

fn open_audit(target: &str) -> anyhow::Result<AuditLog> {
    if target == "-" {
        return Ok(AuditLog::stdout());
    }
    let path = Path::new(target);
    AuditLog::file(path).with_context(|| format!("cannot open audit log {}", path.display()))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
