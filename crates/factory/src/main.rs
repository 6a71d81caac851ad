//! `factory`: the one binary — CLI, and (from the engine on) server,
//! scheduler and worker.

mod cli;
mod cmd;
mod output;
mod store_dir;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
