//! `sentrie`: the command-line tool. Parses arguments (clap), dispatches to one command
//! module, and maps results to exit codes: 0 success, 1 failure, 2 usage error.
//! stdout carries only results; diagnostics and logs go to stderr.

mod cli;
mod clock;
mod commands;
mod explain_text;
mod facts;
mod http;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    logging::init(args.log_level.as_deref(), args.debug, args.log_format);
    let code = commands::run(args);
    ExitCode::from(code)
}
