//! Structured logs on stderr with `tracing`: level from `--log-level`/`--debug`, else
//! `SENTRIE_DEBUG`/`SENTRIE_LOG_LEVEL` (default INFO); text or JSON lines.

use tracing::Level;

use crate::cli::LogFormat;

fn parse(level: &str) -> Option<Level> {
    match level.to_ascii_uppercase().as_str() {
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

pub fn init(flag: Option<&str>, debug: bool, format: LogFormat) {
    let level = if debug {
        Level::DEBUG
    } else if let Some(l) = flag.and_then(parse) {
        l
    } else if std::env::var_os("SENTRIE_DEBUG").is_some() {
        Level::DEBUG
    } else {
        std::env::var("SENTRIE_LOG_LEVEL")
            .ok()
            .as_deref()
            .and_then(parse)
            .unwrap_or(Level::INFO)
    };
    // Module `console.*` output is part of the DEBUG log (LANGUAGE.md §16.2).
    sentrie_modules::quickjs::set_console_output(level == Level::DEBUG);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
