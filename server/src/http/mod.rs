//! `sentrie serve`: the actix-web decision server (HTTP_API.md). Routing, the middleware that
//! adds request ids, CORS headers, metrics and the access log, and the server lifecycle
//! (bind, print listeners, run until SIGINT/SIGTERM, reload on SIGHUP or file change).

pub mod audit;
mod auth;
mod authz;
mod batch;
mod cache;
mod ext_authz;
mod gateway;
mod handlers;
mod listen;
mod log_line;
mod metrics;
mod module_pool;
mod origin;
mod poll;
mod problem;
mod reload;
mod request_id;
mod shadow;
mod shipper;
#[cfg(unix)]
mod signals;
pub mod state;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App as ActixApp, HttpMessage, HttpServer};

use self::handlers::RequestId;
use self::metrics::Metrics;
use self::state::{App, Limits};

/// One pack to serve, as given on the command line.
pub struct PackSpec {
    /// `--pack NAME=...`; a pack given alone is named after its manifest.
    pub name: Option<String>,
    pub source: state::Source,
}

/// Everything `serve` needs, from the command line.
pub struct Options {
    pub packs: Vec<PackSpec>,
    /// How often remote packs are polled.
    pub poll_interval: Duration,
    /// `--cache-dir` (default: [`cache::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    pub max_pack_bytes: u64,
    /// Bounds each request to a remote origin.
    pub fetch_timeout: Duration,
    /// `--tls-cert`/`--tls-key`/`--tls-client-ca`.
    pub tls: Option<tls::Options>,
    /// `--auth-token-file`.
    pub auth_token_file: Option<PathBuf>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<String>,
    /// `--ext-authz-listen` and `--ext-authz-target`.
    pub ext_authz: Option<(String, String)>,
    pub port: u16,
    pub listen: Vec<String>,
    pub limits: Limits,
    pub workers: usize,
    pub max_connections: usize,
    pub watch: bool,
    pub watch_interval: Duration,
    pub decision_log: Option<audit::Destination>,
    pub decision_log_facts: audit::FactsMode,
    pub decision_log_queue_bytes: usize,
    pub decision_log_on_full: audit::OnFull,
    pub decision_log_mask: Vec<String>,
    pub allow_policy_errors: bool,
    pub modules: ModuleOptions,
    /// `--shadow`: a candidate pack evaluated beside the primary.
    pub shadow: Option<PathBuf>,
    /// `--strict`: packs with warnings are refused, at start and on reload.
    pub strict: bool,
}

impl Options {
    fn checks(&self) -> reload::Checks {
        reload::Checks {
            allow_policy_errors: self.allow_policy_errors,
            strict: self.strict,
        }
    }
}

/// Where decisions that call user modules run, and the memory their runtimes share.
#[derive(Clone, Copy, Debug)]
pub struct ModuleOptions {
    pub threads: usize,
    pub memory_bytes: usize,
}

/// A request id from `X-Request-Id` when it is 1–128 characters of `[A-Za-z0-9._:-]`.
fn accepted_request_id(v: Option<&HeaderValue>) -> Option<String> {
    let s = v?.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_string())
}

fn route_index(path: &str) -> usize {
    match path {
        p if p == "/decision" || p.starts_with("/decision/") => 0,
        "/decisions" => 6,
        p if p.starts_with("/authz/") => 7,
        "/health" => 1,
        "/metrics" => 2,
        "/openapi.json" => 3,
        "/ready" => 5,
        _ => 4,
    }
}

/// How long sent data may stay unacknowledged (a client that stopped reading) before the
/// connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Descriptors kept free of client connections (the pack, the log, the listeners, modules).
const RESERVED_FDS: usize = 64;

/// Connections per worker: the flag, but never so many that all workers together could use
/// up the process's descriptor limit (then accepting, reloading and logging would fail).
fn connection_bound(flag: usize, workers: usize) -> usize {
    match open_files_limit() {
        Some(limit) => {
            let per_worker = limit.saturating_sub(RESERVED_FDS) / workers.max(1);
            flag.min(per_worker.max(1))
        }
        None => flag,
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Loads a pack for `serve` to start with; on refusal prints why and gives `None`.
fn load_at_start(
    location: &std::path::Path,
    checks: reload::Checks,
) -> Option<sentrie_compiler::Loaded> {
    match reload::load_checked(location, checks) {
        Ok(loaded) => {
            for d in &loaded.warnings {
                tracing::warn!(diagnostic = %d.render_plain(&loaded.sources), "warning");
            }
            for d in &loaded.diagnostics {
                tracing::warn!(diagnostic = %d.render_plain(&loaded.sources), "policy error: its rules fail at evaluation");
            }
            Some(loaded)
        }
        Err(e) => {
            eprintln!(
                "{}",
                sentrie_grammar::render_all(
                    &e.diagnostics,
                    &e.sources,
                    sentrie_grammar::ErrorFormat::Human
                )
            );
            if e.policy_errors_only {
                eprintln!("Error: the pack {} has policy errors; fix them, or serve it anyway with --allow-policy-errors", location.display());
            }
            None
        }
    }
}

/// A remote pack waiting for its poller.
struct RemoteStart {
    index: usize,
    origin: origin::Origin,
    from: poll::Start,
}

/// The served packs as they start, the remote ones still to poll, and the cache directory.
struct Started {
    slots: Vec<state::Slot>,
    remotes: Vec<RemoteStart>,
    cache: Option<Arc<cache::Cache>>,
}

/// The served packs as they start: local ones loaded (or `None` after printing why), remote
/// ones from the cache when it holds a good copy, else empty until their first fetch.
fn start_slots(opts: &Options) -> Option<Started> {
    let cache = opts
        .packs
        .iter()
        .any(|p| matches!(p.source, state::Source::Remote(_)))
        .then(|| {
            Arc::new(cache::Cache::new(
                opts.cache_dir.clone().unwrap_or_else(cache::default_dir),
            ))
        });
    if cache.is_some() {
        // TLS for the origins' HTTP client: ring, the provider the rest of the tree (ureq)
        // already uses; aws-lc-rs, which adds post-quantum key exchange, is a large C build.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut slots = Vec::with_capacity(opts.packs.len());
    let mut remotes = Vec::new();
    for (index, spec) in opts.packs.iter().enumerate() {
        let (state, from) = match &spec.source {
            state::Source::Local(path) => {
                let loaded = load_at_start(path, opts.checks())?;
                (
                    Some(state::PackState::new(loaded, reload::absolute(path))),
                    None,
                )
            }
            state::Source::Remote(url) => {
                let origin = match origin::Origin::new(url, opts.max_pack_bytes, opts.fetch_timeout)
                {
                    Ok(o) => o,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        return None;
                    }
                };
                let cached = cache.as_deref().and_then(|c| poll::from_cache(c, url));
                let (state, etag, file_hash) = match cached {
                    Some((s, e, h)) => (Some(s), e, Some(h)),
                    None => (None, None, None),
                };
                (
                    state,
                    Some(poll::Pending {
                        origin,
                        etag,
                        file_hash,
                    }),
                )
            }
        };
        let name = spec
            .name
            .clone()
            .or_else(|| state.as_ref().map(|s| s.name.clone()))
            .unwrap_or_else(|| "default".to_string());
        if let Some(first) = slots.iter().find(|s: &&state::Slot| s.name == name) {
            eprintln!("Error: two packs are named `{}`", first.name);
            return None;
        }
        if let Some(state) = &state {
            for other in &slots {
                let Some(theirs) = other.pack.load_full() else {
                    continue;
                };
                if let Some((mine, their_ns)) =
                    state::overlapping(&state.namespaces, &theirs.namespaces)
                {
                    eprintln!(
                        "Error: packs `{}` and `{name}` overlap: `{}` defines namespace `{their_ns}` and `{name}` defines `{mine}`; each namespace must belong to one pack",
                        other.name, other.name
                    );
                    return None;
                }
            }
        }
        if let Some(from) = from {
            remotes.push(RemoteStart {
                index,
                origin: from.origin,
                from: poll::Start {
                    etag: from.etag,
                    file_hash: from.file_hash,
                },
            });
        }
        slots.push(state::Slot::new(name, spec.source.clone(), state));
    }
    Some(Started {
        slots,
        remotes,
        cache,
    })
}

/// Runs the server until it is stopped. Returns the process exit code.
pub fn serve(opts: Options) -> u8 {
    let Some(Started {
        slots,
        remotes,
        cache,
    }) = start_slots(&opts)
    else {
        return 1;
    };
    if opts.shadow.is_some() && slots.len() != 1 {
        eprintln!("Error: --shadow compares against a single pack; it cannot be combined with several --pack");
        return 1;
    }
    let shadow = match &opts.shadow {
        Some(location) => match load_at_start(location, opts.checks()) {
            Some(l) => {
                let state = state::PackState::new(l, reload::absolute(location));
                Some(shadow::Shadow::new(state::Slot::new(
                    "shadow".into(),
                    state::Source::Local(location.clone()),
                    Some(state),
                )))
            }
            None => return 1,
        },
        None => None,
    };
    let listeners = match listen::Listeners::from(&opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let tokens = match &opts.auth_token_file {
        Some(path) => match auth::Tokens::load(path) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    let audit = match &opts.decision_log {
        Some(to) => {
            let queue = audit::Queue {
                bytes: opts.decision_log_queue_bytes,
                on_full: opts.decision_log_on_full,
            };
            let mask = opts.decision_log_mask.clone();
            match audit::AuditLog::open(
                to,
                opts.decision_log_facts,
                mask,
                queue,
                Arc::clone(&metrics),
            ) {
                Ok(log) => Some(log),
                Err(e) => {
                    eprintln!("Error: cannot open the decision log {to:?}: {e}");
                    return 1;
                }
            }
        }
        None => None,
    };
    sentrie_modules::quickjs::set_memory_limit(
        opts.modules.memory_bytes / opts.modules.threads.max(1),
    );
    let modules = match module_pool::ModulePool::start(
        opts.modules.threads,
        opts.modules.threads.saturating_mul(4),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: cannot start the module threads: {e}");
            return 1;
        }
    };
    let app = Arc::new(App {
        tokens,
        packs: slots,
        shadow,
        limits: opts.limits,
        metrics,
        audit,
        modules,
        checks: opts.checks(),
    });
    if let Err(e) = shadow::Shadow::start(&app) {
        eprintln!("Error: cannot start the shadow thread: {e}");
        return 1;
    }
    let trigger = match reload::start(Arc::clone(&app)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Error: cannot start the reloader: {e}");
            return 1;
        }
    };
    if let Err(e) = start_reloads(&app, &opts, remotes, cache, &trigger) {
        eprintln!("Error: {e}");
        return 1;
    }
    if let Some((listen, target)) = &opts.ext_authz {
        if let Err(e) = start_ext_authz(&app, listen, target, opts.workers) {
            eprintln!("Error: {e}");
            return 1;
        }
    }
    let code = match run_server(Arc::clone(&app), listeners, &opts, trigger) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    };
    // The last reference flushes the decision log when dropped.
    drop(app);
    code
}

/// Starts what keeps packs current: a poller per remote pack, and with `--watch` a watcher
/// per local pack (and the shadow).
fn start_reloads(
    app: &Arc<App>,
    opts: &Options,
    remotes: Vec<RemoteStart>,
    cache: Option<Arc<cache::Cache>>,
    trigger: &std::sync::mpsc::Sender<reload::Which>,
) -> Result<(), String> {
    let poll_config = poll::Config {
        interval: opts.poll_interval,
        cache,
    };
    for r in remotes {
        poll::start(app, r.index, r.origin, poll_config.clone(), r.from)
            .map_err(|e| format!("cannot start the pack poller: {e}"))?;
    }
    if opts.watch {
        let mut watched: Vec<(PathBuf, reload::Which)> = opts
            .packs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.source {
                state::Source::Local(path) => Some((path.clone(), reload::Which::Pack(i))),
                state::Source::Remote(_) => None,
            })
            .collect();
        watched.extend(
            opts.shadow
                .iter()
                .map(|s| (s.clone(), reload::Which::Shadow)),
        );
        for (location, which) in watched {
            reload::watch(location, opts.watch_interval, trigger.clone(), which)
                .map_err(|e| format!("cannot start the pack watcher: {e}"))?;
        }
    }
    Ok(())
}

/// Checks the ext_authz target against the packs loaded at start (a remote pack not loaded
/// yet is checked when requests come) and starts the gRPC service.
fn start_ext_authz(
    app: &Arc<App>,
    listen: &str,
    target: &str,
    workers: usize,
) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addr = listen
        .to_socket_addrs()
        .map_err(|e| format!("--ext-authz-listen `{listen}`: {e} (expected HOST:PORT)"))?
        .next()
        .ok_or_else(|| format!("--ext-authz-listen `{listen}` resolves to no address"))?;
    let target = target.trim_matches('/').to_string();
    if app.ready() {
        let (pack, t) = handlers::resolve(app, &target)
            .map_err(|r| format!("--ext-authz-target: {}", r.detail))?;
        if !handlers::names_one_rule(&pack, &t, &target) {
            return Err(format!(
                "--ext-authz-target `{target}` must name one rule: NAMESPACE/POLICY/RULE"
            ));
        }
    }
    ext_authz::start(app, addr, target, workers).map_err(|e| e.to_string())
}

fn run_server(
    app: Arc<App>,
    listeners: listen::Listeners,
    opts: &Options,
    trigger: std::sync::mpsc::Sender<reload::Which>,
) -> std::io::Result<()> {
    let data = web::Data::from(Arc::clone(&app));
    let system = actix_web::rt::System::new();
    let listen::Listeners {
        tcp,
        unix,
        metrics: metrics_addrs,
        tls,
    } = listeners;
    let certificate = tls.as_ref().map(|(_, c)| Arc::clone(c));
    system.block_on(async move {
        let server_data = data.clone();
        let metrics_elsewhere = !metrics_addrs.is_empty();
        let mut server = HttpServer::new(move || {
            let metrics_app = server_data.clone();
            let app = ActixApp::new()
                .app_data(server_data.clone())
                .wrap_fn(move |req, srv| {
                    let id = accepted_request_id(req.headers().get("x-request-id")).unwrap_or_else(request_id::generate);
                    req.extensions_mut().insert(RequestId(id.clone()));
                    let started = Instant::now();
                    let route = route_index(req.path());
                    // The access log is the only user of method and path: skip the copies when
                    // it is off.
                    let logged = tracing::enabled!(tracing::Level::INFO)
                        .then(|| (req.method().clone(), req.path().to_string()));
                    let metrics = Arc::clone(&metrics_app.metrics);
                    // Decision endpoints need a bearer token when tokens are configured (the
                    // CORS preflight does not).
                    let refused = metrics_app.tokens.as_ref().and_then(|tokens| {
                        let guarded = matches!(route, 0 | 6 | 7)
                            && req.method() != actix_web::http::Method::OPTIONS;
                        let header = req.headers().get(actix_web::http::header::AUTHORIZATION);
                        (guarded && !tokens.accepts(header.map(HeaderValue::as_bytes)))
                            .then(|| auth::unauthorized(header.is_some(), &id))
                    });
                    let cors_headers = if metrics_app.tokens.is_some() {
                        "Content-Type, Authorization"
                    } else {
                        "Content-Type"
                    };
                    let fut = match refused {
                        Some(response) => {
                            let (http, _) = req.into_parts();
                            futures_util::future::Either::Left(futures_util::future::ready(Ok(
                                ServiceResponse::new(http, response),
                            )))
                        }
                        None => futures_util::future::Either::Right(srv.call(req)),
                    };
                    async move {
                        let mut res: ServiceResponse = fut.await?;
                        let status = res.status().as_u16();
                        let headers = res.headers_mut();
                        for (k, v) in [
                            ("access-control-allow-origin", "*"),
                            ("access-control-allow-methods", "POST, OPTIONS"),
                            ("access-control-allow-headers", cors_headers),
                        ] {
                            headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
                        }
                        if let Ok(v) = HeaderValue::from_str(&id) {
                            headers.insert(HeaderName::from_static("x-request-id"), v);
                        }
                        metrics.request(route, status);
                        if let Some((method, path)) = logged {
                            tracing::info!(%method, %path, status, micros = started.elapsed().as_micros() as u64, request_id = %id, "request");
                        }
                        Ok(res)
                    }
                })
                .route("/health", web::route().to(handlers::health))
                .route("/ready", web::route().to(handlers::ready));
            let app = if metrics_elsewhere {
                app.route("/metrics", web::route().to(handlers::not_found))
            } else {
                app.route("/metrics", web::get().to(handlers::metrics))
            };
            app.route("/openapi.json", web::get().to(handlers::openapi))
                // `/decision/...` is dispatched by prefix in the default service: a dynamic
                // route pattern would run a regex over every request path.
                .default_service(web::to(handlers::dispatch))
        })
        // Small responses must not wait for the client's delayed ACK (Nagle). A client that
        // stops reading (its window stays closed) is dropped after the write timeout.
        .tcp_nodelay(true)
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(WRITE_TIMEOUT));
            }
        })
        .workers(opts.workers)
        .max_connections(connection_bound(opts.max_connections, opts.workers))
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_secs(30))
        // A TLS client that stalls its handshake is dropped after this.
        .tls_handshake_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(30));
        for addr in &tcp {
            let bound = match &tls {
                Some((config, _)) => server.bind_rustls_0_23(addr, config.clone()),
                None => server.bind(addr),
            };
            server = bound.map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        for addr in server.addrs() {
            eprintln!("listening on {scheme}://{addr}");
        }
        #[cfg(unix)]
        for path in &unix {
            // A socket file left by an earlier run would make the bind fail.
            if std::fs::symlink_metadata(path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(path);
            }
            server = server.bind_uds(path).map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind unix:{}: {e}", path.display())))?;
            eprintln!("listening on unix:{}", path.display());
        }
        #[cfg(not(unix))]
        if !unix.is_empty() {
            return Err(std::io::Error::other("unix sockets need a Unix system"));
        }
        if !metrics_addrs.is_empty() {
            listen::spawn_metrics_server(data.clone(), &metrics_addrs)?;
        }
        let server = server.run();
        #[cfg(unix)]
        signals::spawn(&app, trigger, certificate);
        server.await
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn connections_leave_descriptors_for_everything_else() {
        let limit = super::open_files_limit();
        let bound = super::connection_bound(25_000, 2);
        match limit {
            Some(l) => assert!(bound * 2 + super::RESERVED_FDS <= l.max(super::RESERVED_FDS + 2)),
            None => assert_eq!(bound, 25_000),
        }
        assert!(bound >= 1);
    }
}
