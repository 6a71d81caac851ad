//! Factory's event hooks: the `[hook.NAME]` items of the definition, run for the events of
//! the log that match them, as Fedora's Loopabull runs playbooks on bus messages.
//!
//! - [`filter`]: which events a hook runs for (topic patterns, components), and the rules
//!   that keep hooks from feeding on their own outcomes.
//! - `deliver`: one attempt: the hook's command in the builds' sandbox with the event's
//!   JSON ([`factory_bus::Body`], as the API and the bus carry it) on standard input, or an HTTP POST of it.
//! - `runner`: one hook's task: its cursor, its retries, its records (`hook_ran`).
//! - [`Hooks`]: a task per hook, started, replaced and stopped as the definition changes.
//!
//! What holds: a hook runs at least once for every event it wants (its cursor moves only
//! in the transaction that records the outcome), in log order, one event at a time; a
//! failure that may pass is tried again, with a pause that doubles, up to the hook's
//! `tries`, then recorded as failed and the hook goes on. Each hook has its own task, which
//! reads the log: the engine never waits for a hook, nor a hook for another.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod deliver;
pub mod filter;
mod runner;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use factory_def::{Definition, Hook};
use factory_exec::{CancellationToken, Sandbox};
use factory_store::{Seq, Store, StoreError};
use factory_types::{Fault, HasFault};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use deliver::DeliveryFailure;

use deliver::Context;
use runner::HookTask;

/// Where hook commands get their scratch directories, in the store's directory.
pub const SCRATCH_DIR: &str = "hooks";

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("cannot start the hooks: {source}")]
    Store {
        #[from]
        source: StoreError,
    },
}

impl HasFault for HookError {
    fn fault(&self) -> Fault {
        match self {
            HookError::Store { source } => source.fault(),
        }
    }
}

/// The running hooks of a factory. Stop them with [`Hooks::stop`] or [`Hooks::finish`].
pub struct Hooks {
    supervisor: JoinHandle<()>,
    stop: CancellationToken,
    drain: watch::Sender<Option<Seq>>,
}

/// One hook's running task.
struct Running {
    hook: Hook,
    root: Option<PathBuf>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Hooks {
    /// Starts the hooks of the definition `definitions` holds, and follows it: a hook added
    /// starts (at the end of the log), one removed stops and is forgotten, one changed is
    /// started again where it was. `def_of` gets the definition out of what the channel
    /// carries (the engine's job graph, say). Hook commands run in `sandbox`.
    pub async fn start<T: Send + Sync + 'static>(
        store: Store,
        sandbox: Sandbox,
        definitions: watch::Receiver<T>,
        def_of: impl Fn(&T) -> Arc<Definition> + Send + 'static,
    ) -> Result<Hooks, HookError> {
        let first = def_of(&definitions.borrow());
        forget_removed(&store, &first).await?;
        let ctx = Arc::new(Context {
            sandbox,
            scratch: store.dir().join(SCRATCH_DIR),
        });
        let stop = CancellationToken::new();
        let (drain, draining) = watch::channel(None);
        let supervisor = Supervisor {
            ctx,
            store,
            running: BTreeMap::new(),
            draining,
        };
        let task = tokio::spawn(supervisor.run(first, definitions, def_of, stop.clone()));
        Ok(Hooks {
            supervisor: task,
            stop,
            drain,
        })
    }

    /// Lets every hook deal with the events up to `until` (those of a run about to end),
    /// for at most `limit` or until `interrupted`, then stops them. What is left is
    /// delivered by the next start.
    pub async fn finish(self, until: Seq, limit: Duration, interrupted: CancellationToken) {
        self.drain.send_replace(Some(until));
        let Hooks {
            mut supervisor,
            stop,
            drain,
        } = self;
        tokio::select! {
            _ = &mut supervisor => return,
            () = tokio::time::sleep(limit) => {}
            () = interrupted.cancelled() => {}
        }
        stop.cancel();
        let _ = supervisor.await;
        drop(drain);
    }

    /// Stops every hook now: an attempt under way is abandoned (a command's processes are
    /// killed) and made again by the next start.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.supervisor.await;
    }
}

/// Forgets the cursors of hooks the definition no longer has: a hook added back later is
/// a new hook, for what happens from then on, not for everything since it left.
async fn forget_removed(store: &Store, def: &Definition) -> Result<(), StoreError> {
    for (name, _) in store.db().hook_cursors().await? {
        if !def.hooks.contains_key(&name) {
            store.db().forget_hook(&name).await?;
        }
    }
    Ok(())
}

struct Supervisor {
    ctx: Arc<Context>,
    store: Store,
    running: BTreeMap<String, Running>,
    draining: watch::Receiver<Option<Seq>>,
}

impl Supervisor {
    async fn run<T: Send + Sync + 'static>(
        mut self,
        first: Arc<Definition>,
        mut definitions: watch::Receiver<T>,
        def_of: impl Fn(&T) -> Arc<Definition>,
        stop: CancellationToken,
    ) {
        definitions.mark_unchanged();
        self.apply(&first).await;
        let mut following = true;
        loop {
            // The branches only say what happened: acting needs the supervisor whole.
            let next = tokio::select! {
                () = stop.cancelled() => None,
                changed = definitions.changed(), if following => Some(changed.is_ok()),
                () = all_ended(&self.running, &mut self.draining) => None,
            };
            match next {
                None => break,
                // Nobody will change the definition any more; the hooks go on.
                Some(false) => following = false,
                Some(true) => {
                    let def = def_of(&definitions.borrow_and_update());
                    self.apply(&def).await;
                }
            }
        }
        for (_, running) in std::mem::take(&mut self.running) {
            running.stop.cancel();
            let _ = running.task.await;
        }
    }

    /// Makes the running hooks those of `def`.
    async fn apply(&mut self, def: &Definition) {
        let wanted: BTreeSet<&String> = def.hooks.keys().collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|name| !wanted.contains(name))
            .cloned()
            .collect();
        for name in gone {
            self.end(&name).await;
            if let Err(error) = self.store.db().forget_hook(&name).await {
                tracing::warn!(hook = %name, %error, "cannot forget a removed hook's cursor");
            }
        }
        for hook in def.hooks.values() {
            let unchanged = self
                .running
                .get(&hook.name)
                .is_some_and(|r| same(&r.hook, hook) && r.root == def.root);
            if !unchanged {
                self.end(&hook.name).await;
                self.begin(hook.clone(), def.root.clone());
            }
        }
    }

    async fn end(&mut self, name: &str) {
        if let Some(running) = self.running.remove(name) {
            running.stop.cancel();
            let _ = running.task.await;
        }
    }

    fn begin(&mut self, hook: Hook, root: Option<PathBuf>) {
        let stop = CancellationToken::new();
        let task = HookTask {
            ctx: self.ctx.clone(),
            store: self.store.clone(),
            hook: hook.clone(),
            root: root.clone(),
            stop: stop.clone(),
            drain: self.draining.clone(),
            builds: Default::default(),
            drain_gone: false,
        };
        let handle = tokio::spawn(task.run());
        self.running.insert(
            hook.name.clone(),
            Running {
                hook,
                root,
                stop,
                task: handle,
            },
        );
    }
}

/// Resolves once every hook's task has ended (they end by themselves only when told to
/// drain); never while nobody drains.
async fn all_ended(
    running: &BTreeMap<String, Running>,
    draining: &mut watch::Receiver<Option<Seq>>,
) {
    loop {
        if draining.borrow().is_some() {
            if running.values().all(|r| r.task.is_finished()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else if draining.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether two versions of a hook do the same: where it is written and its description do
/// not count, so moving it in its file does not restart it.
fn same(a: &Hook, b: &Hook) -> bool {
    a.on == b.on
        && a.components == b.components
        && a.action == b.action
        && a.timeout == b.timeout
        && a.tries == b.tries
}
