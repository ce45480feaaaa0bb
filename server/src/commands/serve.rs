//! `sentrie serve [PACK]` (PACKS_AND_CLI.md §7.4): maps flags to server options.

use std::time::Duration;

use crate::cli::ServeArgs;
use crate::http::state::{Limits, Source};
use crate::http::{self};

pub fn run(args: ServeArgs, strict: bool) -> u8 {
    // Before the first pack is loaded: its cache takes the budget when it is made.
    sentrie_modules::memo::set_default_budget(args.memo_bytes);
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let remote = |l: &str| l.contains("://");
    let packs: Vec<http::PackSpec> = if !args.packs.is_empty() {
        if args.pack.is_some() {
            crate::commands::error("give the pack either as PACK or with --pack NAME=LOCATION");
            return crate::commands::EXIT_USAGE;
        }
        args.packs
            .into_iter()
            .map(|(name, location)| http::PackSpec {
                name: Some(name),
                source: if remote(&location) {
                    Source::Remote(location)
                } else {
                    Source::Local(location.into())
                },
            })
            .collect()
    } else if let Some(url) = args.pack_url {
        if args.pack.is_some() {
            crate::commands::error("give the pack either as PACK or with --pack-url");
            return crate::commands::EXIT_USAGE;
        }
        vec![http::PackSpec {
            name: None,
            source: Source::Remote(url),
        }]
    } else {
        vec![http::PackSpec {
            name: None,
            source: Source::Local(args.pack.unwrap_or(args.pack_location)),
        }]
    };
    let opts = http::Options {
        packs,
        poll_interval: args.poll_interval,
        cache_dir: args.cache_dir,
        max_pack_bytes: args.max_pack_bytes,
        fetch_timeout: args.fetch_timeout,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(http::tls::Options {
                cert,
                key,
                client_ca: args.tls_client_ca,
            }),
            _ => None,
        },
        auth_token_file: args.auth_token_file,
        metrics_listen: args.metrics_listen,
        ext_authz: args.ext_authz_listen.zip(args.ext_authz_target),
        port: args.port,
        listen: args.listen,
        limits: Limits {
            body_bytes: args.max_body_bytes,
            body_timeout: Duration::from_millis(args.body_timeout_ms.max(1)),
            json_depth: args.max_json_depth as usize,
            fuel: args.max_fuel,
            deadline: Duration::from_millis(args.decision_timeout_ms),
            arena_keep_bytes: args.arena_keep_bytes,
        },
        modules: http::ModuleOptions {
            threads: args.module_threads as usize,
            memory_bytes: args.module_memory_bytes,
        },
        workers,
        max_connections: args.max_connections,
        watch: args.watch,
        watch_interval: Duration::from_millis(args.watch_interval_ms.max(10)),
        decision_log: match (args.decision_log, args.decision_log_url) {
            (Some(path), _) => Some(http::audit::Destination::Path(path)),
            (None, Some(url)) => Some(http::audit::Destination::Url(url)),
            (None, None) => None,
        },
        decision_log_facts: args.decision_log_facts,
        decision_log_queue_bytes: args.decision_log_queue_bytes,
        decision_log_on_full: args.decision_log_on_full,
        decision_log_mask: args.decision_log_mask,
        allow_policy_errors: args.allow_policy_errors,
        shadow: args.shadow,
        strict,
    };
    http::serve(opts)
}
