//! One module per group of commands; `run` dispatches.

mod demo;
mod import;
mod query;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let store = cli.store.as_path();
    match &cli.command {
        Command::Check { dir } => return import::check(dir),
        Command::Import(what) => import::import(store, what)?,
        Command::Affected(args) => query::affected(store, args)?,
        Command::Plan(args) => query::plan(store, args)?,
        Command::Trace { name, depth, format } => query::trace(store, name, *depth, *format)?,
        Command::Why { from, to, format } => query::why(store, from, to, *format)?,
        Command::Demo { definition } => demo::demo(definition.as_deref())?,
    }
    Ok(ExitCode::SUCCESS)
}
