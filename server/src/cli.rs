//! The command-line surface (PACKS_AND_CLI.md §5 and §7), declared with clap's derive API.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "sentrie",
    version,
    disable_version_flag = true,
    about = "Sentrie: a deterministic policy decision engine"
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Log level: DEBUG, INFO, WARN or ERROR.
    #[arg(long, global = true, value_parser = ["DEBUG", "INFO", "WARN", "ERROR", "debug", "info", "warn", "error"])]
    pub log_level: Option<String>,
    /// Same as `--log-level DEBUG`.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How diagnostics are printed on stderr.
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormatArg::Human)]
    pub error_format: ErrorFormatArg,
    /// Refuse packs with warnings (ad-hoc fact reads, calls that always fail), as the
    /// manifest's `strict = true` does (validate, exec, serve, compile, test).
    #[arg(long, global = true)]
    pub strict: bool,
    /// Scan constant lists instead of indexing them (to compare answers or timings; `disasm`
    /// shows the difference).
    #[arg(long, global = true)]
    pub no_index: bool,
    /// Accept only compiled packs signed by this public key (PEM, from `sentrie keygen`);
    /// repeatable, so that old and new keys both pass during a rotation (serve, exec,
    /// validate, test, bench, disasm).
    #[arg(long = "verify-key", value_name = "PUB", global = true)]
    pub verify_keys: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ErrorFormatArg {
    Human,
    Plain,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new, empty policy pack.
    Init {
        /// Pack name (letters, digits, `_`, `-`, dot-separated parts).
        name: String,
        /// Directory to create the pack in (created if missing; must be empty).
        #[arg(long, default_value = ".")]
        directory: PathBuf,
    },
    /// Evaluate a policy or one rule and print the decisions.
    Exec {
        /// `namespace/policy` or `namespace/policy/rule`.
        target: String,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Facts as a JSON object.
        #[arg(long)]
        facts: Option<String>,
        /// A file holding a JSON object of facts (`--facts` is merged over it).
        #[arg(long)]
        fact_file: Option<PathBuf>,
        /// `table` for people, `json` for programs.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Also show why: each rule's trace (its `when`, body or default, the lets, rules,
        /// imports, collection forms and module calls evaluated on the way).
        #[arg(long)]
        explain: bool,
    },
    /// Load and check a pack (and optionally a target and facts) without evaluating.
    Validate {
        /// Also check that this target (`namespace/policy[/rule]`) resolves.
        target: Option<String>,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Facts (a JSON object) to check against the target's fact declarations.
        #[arg(long)]
        facts: Option<String>,
    },
    /// Serve decisions over HTTP (HTTP_API.md).
    Serve(Box<ServeArgs>),
    /// Compile a source pack into one verified file that exec, validate and serve load.
    Compile {
        /// Source pack location (overrides --pack-location).
        pack: Option<PathBuf>,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Output file.
        #[arg(short = 'o', long = "out", visible_alias = "output")]
        out: PathBuf,
        /// Sign the compiled pack with this private key (PEM, from `sentrie keygen`);
        /// repeatable, to carry the signatures of an old and a new key during a rotation.
        #[arg(long = "sign", value_name = "KEY")]
        sign: Vec<PathBuf>,
    },
    /// Write a new ed25519 key pair for signing packs: `NAME.key` (private, mode 0600) and
    /// `NAME.pub` (public).
    Keygen {
        /// Path and base name of the two files.
        #[arg(long = "out", value_name = "NAME")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Measure in-process decision latency and throughput for a target.
    Bench {
        /// `namespace/policy` or `namespace/policy/rule`.
        target: String,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Facts as a JSON object.
        #[arg(long)]
        facts: Option<String>,
        /// A file holding a JSON object of facts (`--facts` is merged over it).
        #[arg(long)]
        fact_file: Option<PathBuf>,
        /// Decisions to time in each mode (hot and cold).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        iterations: u64,
        /// `table` for people, `json` for programs.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Run the test cases of a pack (`*.test.json` files) and report failures and coverage.
    Test {
        /// Pack location (overrides --pack-location).
        pack: Option<PathBuf>,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Run only the cases whose name matches this regular expression.
        #[arg(long, value_name = "REGEX")]
        run: Option<String>,
        /// Run the cases of this file (repeatable) instead of the pack's `*.test.json` files.
        #[arg(long, value_name = "FILE")]
        cases: Vec<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = crate::commands::TestFormat::Human)]
        format: crate::commands::TestFormat,
        /// Also report which rules, lets, `when` sides and defaults no case reached.
        #[arg(long)]
        coverage: bool,
    },
    /// Rewrite `.sentrie` files in the canonical layout (comments kept).
    Fmt {
        /// Files or directories (searched recursively for `.sentrie` files); default `.`.
        paths: Vec<PathBuf>,
        /// Change nothing; list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Change nothing; print a unified diff of what formatting would change.
        #[arg(long)]
        diff: bool,
    },
    /// Evaluate the decisions of a decision log again and report any that differ.
    Replay {
        /// The decision log (JSON lines written by `serve --decision-log`).
        log: PathBuf,
        /// Replay every line against this pack instead of the pack each line names.
        #[arg(long)]
        pack_location: Option<PathBuf>,
        /// `table` for people, `json` for programs.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Print the bytecode of a rule (or of every rule of a policy).
    Disasm {
        /// `namespace/policy` or `namespace/policy/rule`.
        target: String,
        /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Pack location (overrides --pack-location).
    pub pack: Option<PathBuf>,
    /// Pack directory, `sentrie.pack.toml`, or compiled pack file.
    #[arg(long, default_value = "./")]
    pub pack_location: PathBuf,
    /// TCP port; 0 lets the OS choose.
    #[arg(long, env = "SENTRIE_PORT", default_value_t = 7529)]
    pub port: u16,
    /// `local`, `all`, `local4`, `local6`, `network4`, `network6`, `network`, addresses, or
    /// `unix:/path/to.sock` (a Unix domain socket); repeatable and comma-separated.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Maximum concurrent connections per worker.
    #[arg(long, default_value_t = 25_000)]
    pub max_connections: usize,
    /// Largest accepted request body.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time a client has to send a request body, in milliseconds (then 408).
    #[arg(long, default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// Deepest accepted JSON nesting in a request body (at most 128).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=128))]
    pub max_json_depth: u64,
    /// Evaluation budget of one request (units charged at loops and calls).
    #[arg(long, default_value_t = 10_000_000)]
    pub max_fuel: u64,
    /// Wall-clock limit of one evaluation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub decision_timeout_ms: u64,
    /// Reload when files under the pack location change.
    #[arg(long)]
    pub watch: bool,
    /// Polling interval of `--watch`, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub watch_interval_ms: u64,
    /// Write one JSON line per decision to this file (`-` for stdout).
    #[arg(long, conflicts_with = "decision_log_url")]
    pub decision_log: Option<String>,
    /// Ship the decision log to this HTTP collector instead: gzip-compressed JSON-lines
    /// batches, retried with exponential backoff.
    #[arg(long, value_name = "URL")]
    pub decision_log_url: Option<String>,
    /// What the decision log records about the facts.
    #[arg(long, value_enum, default_value_t = crate::http::audit::FactsMode::Full)]
    pub decision_log_facts: crate::http::audit::FactsMode,
    /// Bytes of decision-log lines that may wait for the writer; lines beyond are dropped and
    /// counted (`sentrie_decision_log_dropped_total`).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub decision_log_queue_bytes: usize,
    /// When the decision-log queue is full: `block` makes requests wait (no line is lost),
    /// `drop` drops the line and counts it (`sentrie_decision_log_dropped_total`).
    #[arg(long, value_enum, default_value_t = crate::http::audit::OnFull::Block)]
    pub decision_log_on_full: crate::http::audit::OnFull,
    /// A JSON pointer (`/req/prompt`) of a fact value the decision log replaces with
    /// "[masked]"; repeatable (the pack's `[decision_log] mask` adds more).
    #[arg(long = "decision-log-mask", value_name = "POINTER", value_parser = json_pointer)]
    pub decision_log_mask: Vec<String>,
    /// Serve (and reload into) a pack that has policy errors; its affected policies answer
    /// with errors. Without it such a pack is refused at start and on reload.
    #[arg(long)]
    pub allow_policy_errors: bool,
    /// Threads that run decisions calling TypeScript/JavaScript modules (each keeps one module
    /// runtime); further such decisions wait in a queue of four per thread, then get 503.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub module_threads: u64,
    /// Memory all module runtimes together may use, shared equally among the module threads.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub module_memory_bytes: usize,
    /// A thread's evaluation arena that grew past this for one large decision is freed
    /// afterwards instead of kept (counted in `sentrie_arena_shrinks_total`).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub arena_keep_bytes: usize,
    /// Bytes of memoized results (`f(x)!`) each loaded pack may keep; results beyond are
    /// dropped and counted (`sentrie_memo_dropped_total`).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub memo_bytes: usize,
    /// A candidate pack evaluated on every request besides the primary, off the response
    /// path; disagreements are counted in `/metrics` and written to the decision log.
    #[arg(long, value_name = "CANDIDATE")]
    pub shadow: Option<PathBuf>,
    /// Serve a compiled pack fetched from `http(s)://...` or `s3://BUCKET/KEY` (S3 settings
    /// from the standard `AWS_*` variables, `AWS_ENDPOINT_URL` for S3-compatible stores),
    /// polled for new versions.
    #[arg(long, value_name = "URL", conflicts_with = "packs")]
    pub pack_url: Option<String>,
    /// Serve this pack beside others: `NAME=LOCATION`, where LOCATION is a directory, a
    /// compiled file or a URL; repeatable. Each pack owns its namespaces (overlaps are a
    /// start-up error) and is reloaded on its own.
    #[arg(long = "pack", value_name = "NAME=LOCATION", value_parser = named_pack)]
    pub packs: Vec<(String, String)>,
    /// How often remote packs are polled (`30s`, `1s`, `500ms`, `2m`; jittered by ±10%).
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub poll_interval: std::time::Duration,
    /// Where the last good version of each remote pack is kept, so that a restart while the
    /// origin is down still serves (default: `$XDG_CACHE_HOME/sentrie` or
    /// `~/.cache/sentrie`).
    #[arg(long, env = "SENTRIE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Largest remote pack accepted, in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub max_pack_bytes: u64,
    /// Serve HTTPS with this certificate chain (PEM); read again on SIGHUP.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept only clients presenting a certificate issued by this CA (PEM); mutual TLS.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` on decision endpoints, TOKEN one of this file's
    /// lines (surrounding whitespace ignored; `#` starts a comment line); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Serve Envoy's external authorization (gRPC `envoy.service.auth.v3.Authorization`) on
    /// this `HOST:PORT`, answering with the decision of `--ext-authz-target`.
    #[arg(long, value_name = "HOST:PORT", requires = "ext_authz_target")]
    pub ext_authz_listen: Option<String>,
    /// The rule (`NAMESPACE/POLICY/RULE`) whose decision answers ext_authz checks.
    #[arg(long, value_name = "TARGET", requires = "ext_authz_listen")]
    pub ext_authz_target: Option<String>,
    /// Serve `/metrics` (and `/health`, `/ready`) on this `HOST:PORT` instead of the main
    /// listeners.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
    /// Longest one request to a remote origin may take, body included (a poll with its
    /// retries gets three times as long).
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub fetch_timeout: std::time::Duration,
}

/// `NAME=LOCATION` of `--pack`.
fn named_pack(s: &str) -> Result<(String, String), String> {
    let (name, location) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=LOCATION"))?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(format!(
            "pack name `{name}` must be letters, digits, `-`, `_` or `.`"
        ));
    }
    if location.is_empty() {
        return Err(format!("pack `{name}` has no location"));
    }
    Ok((name.to_string(), location.to_string()))
}

/// A duration: a number and a unit (`ms`, `s`, `m`, `h`); at least 100 ms.
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}` has no unit: use ms, s, m or h (30s, 500ms)")),
    };
    if !(0.1..=86_400.0).contains(&secs) {
        return Err(format!("`{s}` is out of range (100ms to 24h)"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A JSON pointer (RFC 6901): empty, or `/`-separated reference tokens.
fn json_pointer(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a JSON pointer (it must start with `/`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations_and_named_packs() {
        assert_eq!(super::duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(super::duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(super::duration("2m"), Ok(Duration::from_secs(120)));
        assert!(super::duration("30").is_err());
        assert!(super::duration("1ms").is_err());
        assert!(super::duration("-1s").is_err());
        assert_eq!(
            super::named_pack("billing=s3://b/k=v").unwrap(),
            ("billing".into(), "s3://b/k=v".into())
        );
        assert!(super::named_pack("no-location=").is_err());
        assert!(super::named_pack("bad name=./x").is_err());
        assert!(super::named_pack("./x").is_err());
    }
}
