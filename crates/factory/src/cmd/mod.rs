//! One module per group of commands; `run` dispatches.

pub(crate) mod bus;
mod demo;
pub(crate) mod engine;
mod hooks;
mod import;
mod keys;
mod progress;
mod query;
pub(crate) mod token;
mod views;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub(crate) use engine::runtime;

/// Runs one command; `main` blocks on this, the only place that does.
pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    let store = cli.store.as_path();
    match &cli.command {
        Command::Check { dir } => return import::check(dir),
        Command::Import(what) => import::import(store, what)?,
        Command::Affected(args) => query::affected(store, args)?,
        Command::Plan(args) => query::plan(store, args).await?,
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
            serve,
            listen,
        } => {
            let serve = serve.then(|| engine::ServeArgs {
                listen: *listen,
                no_listen: false,
                read_token_required: false,
                github_secret_file: None,
                gitlab_token_file: None,
            });
            demo::demo(definition.as_deref(), dir.as_deref(), *jobs, serve).await?
        }
        Command::Up(args) => engine::up(store, args).await?,
        Command::Status => views::status(store).await?,
        Command::Log { build, follow } => views::log(store, build, *follow).await?,
        Command::Events { follow, after } => views::events(store, *follow, *after).await?,
        Command::Rebuild { names, run } => engine::rebuild(store, run, names).await?,
        Command::Explain { build } => views::explain(store, build).await?,
        Command::Gc => engine::gc(store).await?,
        Command::Token(what) => token::token(store, what).await?,
        Command::Keys(what) => keys::keys(store, what)?,
    }
    Ok(ExitCode::SUCCESS)
}
