//! The definition's hooks beside `factory up`'s loop: started before its first wave, they
//! follow the definition the loop runs (a changed definition's hooks replace the old ones),
//! and they stop with it: at once on Ctrl-C, after delivering what the run logged with
//! `--once` (for a while at most: what is left goes at the next start).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use factory_engine::{Control, Engine, JobGraph, Stop};
use factory_exec::Sandbox;
use factory_hooks::Hooks;

/// How long `up --once` waits for its hooks after its wave.
const ONCE_LIMIT: Duration = Duration::from_secs(60);

pub(crate) async fn start(engine: &Engine, control: &Control, sandbox: Sandbox) -> Result<Hooks> {
    Hooks::start(
        engine.store().clone(),
        sandbox,
        control.graphs(),
        |graph: &Arc<JobGraph>| graph.def().clone(),
    )
    .await
    .context("cannot start the definition's hooks")
}

pub(crate) async fn stop(hooks: Hooks, engine: &Engine, once: bool, shutdown: &Stop) {
    if !once || shutdown.is_stopped() {
        return hooks.stop().await;
    }
    match engine.store().db().last_seq().await {
        Ok(until) => {
            hooks
                .finish(until, ONCE_LIMIT, shutdown.token().clone())
                .await
        }
        Err(_) => hooks.stop().await,
    }
}
