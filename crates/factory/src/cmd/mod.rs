//! One module per group of commands; `run` dispatches.

mod demo;
pub mod engine;
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
        Command::Trace {
            name,
            depth,
            format,
        } => query::trace(store, name, *depth, *format)?,
        Command::Why { from, to, format } => query::why(store, from, to, *format)?,
        Command::Demo {
            definition,
            dir,
            jobs,
        } => demo::demo(definition.as_deref(), dir.as_deref(), *jobs)?,
        Command::Up(args) => engine::up(store, args)?,
        Command::Status => engine::status(store)?,
        Command::Log { build, follow } => engine::log(store, build, *follow)?,
        Command::Events { follow, after } => engine::events(store, *follow, *after)?,
        Command::Rebuild { names, run } => engine::rebuild(store, run, names)?,
        Command::Explain { build } => engine::explain(store, build)?,
        Command::Gc => engine::gc(store)?,
    }
    Ok(ExitCode::SUCCESS)
}
