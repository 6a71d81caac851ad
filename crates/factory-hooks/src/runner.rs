//! One hook's task: it follows the log from the hook's cursor, one event at a time, in log
//! order; runs the hook for each event it wants, trying again with a pause that doubles
//! while the failure may pass; records each attempt (`hook_ran`) and moves the cursor with
//! the last one, in one transaction. Nothing here is awaited by the engine.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use factory_def::Hook;
use factory_exec::CancellationToken;
use factory_store::{BuildId, Event, HookOutcome, RecordedEvent, Seq, Store, StoreError};
use factory_types::{BoxFuture, HasFault};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::deliver::{self, Context, Delivery};
use crate::filter::{self, Subject};

/// The pause before the second try; it doubles for each one after.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
/// How long to wait before asking the store again when it fails.
const STORE_PAUSE: Duration = Duration::from_secs(1);
/// Events passed over (not for this hook) leave the cursor to be stored when the log is
/// quiet, at most this often: each store is a commit of its own, and a busy wave is quiet
/// between most of its commits. Until then a restart only reads those events again.
const STORE_CURSOR_AFTER: Duration = Duration::from_secs(1);
/// ... or at once after this many, busy or not.
const STORE_CURSOR_EVERY: u64 = 4096;
/// Once woken by a commit, how long a hook lets more come before it reads them: a hook is
/// in no hurry, and reading the log at every commit of a busy wave would take the engine's
/// time (they share one thread) for events a hook mostly passes over.
const GATHER: Duration = Duration::from_millis(100);
/// Components of builds, remembered for a `component` filter; forgotten when this many.
const KNOWN_BUILDS: usize = 65_536;

/// Everything a hook's task needs.
pub(crate) struct HookTask {
    pub(crate) ctx: Arc<Context>,
    pub(crate) store: Store,
    pub(crate) hook: Hook,
    /// The definition directory (a command's working directory).
    pub(crate) root: Option<PathBuf>,
    pub(crate) stop: CancellationToken,
    /// Set when the factory is about to exit (`up --once`): the task ends once it has dealt
    /// with every event up to this one.
    pub(crate) drain: watch::Receiver<Option<Seq>>,
    pub(crate) builds: HashMap<BuildId, String>,
    /// No one will ask this task to drain any more (the handle is gone).
    pub(crate) drain_gone: bool,
}

/// Where the task is: the last event dealt with, and the last cursor stored (and when).
#[derive(Clone, Copy)]
struct Position {
    done: Seq,
    stored: Seq,
    stored_at: Instant,
}

impl Position {
    /// When the cursor is to be stored, if it moved.
    fn store_due(&self) -> Option<Instant> {
        (self.done > self.stored).then_some(self.stored_at + STORE_CURSOR_AFTER)
    }
}

/// The stop came: leave now, the cursor where it is (what was under way is done again
/// next time: at least once).
struct Stopped;

impl HookTask {
    pub(crate) async fn run(mut self) {
        let Ok(start) = self.start().await else {
            return;
        };
        let mut at = Position {
            done: start,
            stored: start,
            stored_at: Instant::now(),
        };
        let mut follower = self.store.follow(start);
        while self.step(&mut follower, &mut at).await.is_ok() {}
    }

    /// The hook's cursor; a hook never started begins at the end of the log: it is for
    /// what happens from now on, not for the history.
    async fn start(&self) -> Result<Seq, Stopped> {
        let (store, name) = (&self.store, &self.hook.name);
        self.patiently("reading its cursor", || {
            Box::pin(cursor_or_end(store, name))
        })
        .await
    }

    /// Deals with what the log holds; when it holds nothing new, stores the cursor and
    /// waits. `Err` when the task is to end.
    async fn step(
        &mut self,
        follower: &mut factory_store::EventFollower,
        at: &mut Position,
    ) -> Result<(), Stopped> {
        let mut batch = match follower.next_available().await {
            Ok(batch) => batch,
            Err(error) => {
                self.warn("reading the log", &error);
                return self.pause(STORE_PAUSE).await;
            }
        };
        if batch.is_empty() {
            if self.drained(at.done) {
                self.store_cursor(at).await?;
                return Err(Stopped);
            }
            let due = at.store_due();
            let next = tokio::select! {
                () = self.stop.cancelled() => return Err(Stopped),
                // Asked to drain (or no one will ask any more): look again.
                changed = self.drain.changed(), if !self.drain_gone => {
                    self.drain_gone = changed.is_err();
                    return Ok(());
                }
                () = sleep_until(due), if due.is_some() => {
                    return self.store_cursor(at).await;
                }
                next = follower.next() => next,
            };
            match next {
                Ok(event) => batch.push(event),
                Err(error) => {
                    self.warn("reading the log", &error);
                    self.pause(STORE_PAUSE).await?;
                    return Ok(());
                }
            }
            self.pause(GATHER).await?;
            if let Ok(more) = follower.next_available().await {
                batch.extend(more);
            }
        }
        for recorded in batch {
            self.handle(&recorded, at).await?;
        }
        if at.done.0 - at.stored.0 >= STORE_CURSOR_EVERY {
            self.store_cursor(at).await?;
        }
        Ok(())
    }

    fn drained(&self, done: Seq) -> bool {
        self.drain.borrow().is_some_and(|until| done >= until)
    }

    async fn handle(&mut self, recorded: &RecordedEvent, at: &mut Position) -> Result<(), Stopped> {
        if self.wants(recorded).await? {
            self.deliver(recorded).await?;
            at.stored = recorded.seq;
            at.stored_at = Instant::now();
        }
        at.done = recorded.seq;
        Ok(())
    }

    async fn wants(&mut self, recorded: &RecordedEvent) -> Result<bool, Stopped> {
        let topic = factory_types::topic::topic(recorded.event.kind());
        if !filter::runs_for_topic(&self.hook, &recorded.event, &topic) {
            return Ok(false);
        }
        if self.hook.components.is_empty() {
            return Ok(true);
        }
        let component = match filter::subject(&recorded.event) {
            Subject::Component(name) => Some(name.to_owned()),
            Subject::Build(build) => self.component_of(build).await?,
            Subject::Nothing => None,
        };
        Ok(filter::runs_for_component(&self.hook, component.as_deref()))
    }

    async fn component_of(&mut self, build: BuildId) -> Result<Option<String>, Stopped> {
        if let Some(known) = self.builds.get(&build) {
            return Ok(Some(known.clone()));
        }
        let db = self.store.db();
        let record = self
            .patiently("finding a build's component", || db.build(build))
            .await?;
        let component = record.map(|r| r.component);
        if let Some(name) = &component {
            if self.builds.len() >= KNOWN_BUILDS {
                self.builds.clear();
            }
            self.builds.insert(build, name.clone());
        }
        Ok(component)
    }

    /// Every attempt for one event, each recorded; the last one moves the cursor.
    async fn deliver(&self, recorded: &RecordedEvent) -> Result<(), Stopped> {
        let published = factory_bus::Body::from_recorded(recorded);
        let json = serde_json::to_string(&published).expect("an event body serializes");
        let delivery = Delivery {
            hook: &self.hook,
            root: self.root.as_deref(),
            event: &published,
            json: &json,
        };
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=self.hook.tries {
            let started = Instant::now();
            let result = tokio::select! {
                () = self.stop.cancelled() => return Err(Stopped),
                result = deliver::attempt(&self.ctx, &delivery, &self.stop) => result,
            };
            if self.stop.is_cancelled() {
                return Err(Stopped);
            }
            let again = result
                .as_ref()
                .err()
                .is_some_and(|f| f.fault().is_retryable() && attempt < self.hook.tries);
            let (outcome, detail) = match result {
                Ok(detail) => (HookOutcome::Succeeded, detail),
                Err(failure) => (HookOutcome::Failed, failure.detail),
            };
            let ran = Event::HookRan {
                hook: self.hook.name.clone(),
                event_seq: recorded.seq,
                topic: published.topic.clone(),
                attempt,
                outcome,
                detail,
                duration_ms: started.elapsed().as_millis() as u64,
                retry_in_ms: again.then_some(pause.as_millis() as u64),
            };
            if !again {
                return self.finish(recorded.seq, ran).await;
            }
            // Only the last attempt must not be lost; an earlier one's record is news.
            if let Err(error) = self.store.db().append(vec![ran]).await {
                self.warn("recording an attempt", &error);
            }
            self.pause(pause).await?;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        Ok(())
    }

    /// Records the last attempt and moves the cursor past its event, together.
    async fn finish(&self, seq: Seq, ran: Event) -> Result<(), Stopped> {
        if let Event::HookRan {
            outcome: HookOutcome::Failed,
            detail,
            attempt,
            ..
        } = &ran
        {
            let status = detail.lines().next().unwrap_or_default();
            tracing::warn!(hook = %self.hook.name, event = seq.0, attempt, "hook failed: {status}");
        }
        let db = self.store.db();
        let name = &self.hook.name;
        self.patiently("recording its outcome", || {
            db.advance_hook(name, seq, vec![ran.clone()])
        })
        .await
        .map(drop)
    }

    /// Stores the cursor if it moved (events passed over leave no other trace).
    async fn store_cursor(&self, at: &mut Position) -> Result<(), Stopped> {
        if at.done <= at.stored {
            return Ok(());
        }
        let db = self.store.db();
        let (name, done) = (&self.hook.name, at.done);
        self.patiently("storing its cursor", || {
            db.advance_hook(name, done, Vec::new())
        })
        .await?;
        at.stored = at.done;
        at.stored_at = Instant::now();
        Ok(())
    }

    /// `work` until it succeeds, pausing after each failure of the store (a full disk, a
    /// busy database); the hook waits, the factory goes on.
    async fn patiently<'a, T>(
        &self,
        what: &str,
        mut work: impl FnMut() -> BoxFuture<'a, Result<T, StoreError>>,
    ) -> Result<T, Stopped> {
        let mut pause = STORE_PAUSE;
        loop {
            let result = tokio::select! {
                () = self.stop.cancelled() => return Err(Stopped),
                result = work() => result,
            };
            match result {
                Ok(value) => return Ok(value),
                Err(error) => {
                    self.warn(what, &error);
                    self.pause(pause).await?;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }

    async fn pause(&self, pause: Duration) -> Result<(), Stopped> {
        tokio::select! {
            () = self.stop.cancelled() => Err(Stopped),
            () = tokio::time::sleep(pause) => Ok(()),
        }
    }

    fn warn(&self, what: &str, error: &StoreError) {
        tracing::warn!(hook = %self.hook.name, %error, "hook: {what} failed; trying again");
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// The cursor of hook `name`, or, for a hook never started, the end of the log, stored as
/// its cursor.
async fn cursor_or_end(store: &Store, name: &str) -> Result<Seq, StoreError> {
    let db = store.db();
    if let Some(seq) = db.hook_cursor(name).await? {
        return Ok(seq);
    }
    let last = db.last_seq().await?;
    db.advance_hook(name, last, Vec::new()).await?;
    Ok(last)
}
