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
    /// How diagnostics are printed on stderr.
    #[arg(long, global = true, value_enum, default_value_t = ErrorFormatArg::Human)]
    pub error_format: ErrorFormatArg,
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
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Facts as a JSON object.
        #[arg(long)]
        facts: Option<String>,
        /// A file holding a JSON object of facts (`--facts` is merged over it).
        #[arg(long)]
        fact_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Load and check a pack (and optionally a target and facts) without evaluating.
    Validate {
        target: Option<String>,
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        #[arg(long)]
        facts: Option<String>,
    },
    /// Compile a source pack into one verified file that exec, validate and serve load.
    Compile {
        /// Source pack location (overrides --pack-location).
        pack: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        /// Output file.
        #[arg(short = 'o', long = "out", visible_alias = "output")]
        out: PathBuf,
    },
    /// Measure in-process decision latency and throughput for a target.
    Bench {
        target: String,
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
        #[arg(long)]
        facts: Option<String>,
        #[arg(long)]
        fact_file: Option<PathBuf>,
        /// Decisions to time in each mode (hot and cold).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        iterations: u64,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Print the bytecode of a rule (or of every rule of a policy).
    Disasm {
        target: String,
        #[arg(long, default_value = ".")]
        pack_location: PathBuf,
    },
}
