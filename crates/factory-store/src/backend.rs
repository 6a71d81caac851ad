//! The storage interface, split by audience. The SQLite implementation is the embedded
//! default; a PostgreSQL implementation goes behind these same traits, and the conformance
//! tests in `tests/` drive a [`Backend`] so they can run on both.
//!
//! - [`EventLog`]: appending and reading the log (everyone).
//! - [`EngineQueries`]: what the engine asks while it plans and runs waves.
//! - [`Views`]: what the CLI and the server show.
//! - [`Maintenance`]: garbage collection and rebuilding projections.
//! - [`InlineBlobs`]: the small blobs the database keeps (the blob store's business; see
//!   [`crate::Store`], which is the only one that asks).
//! - [`Tokens`]: the API tokens of the server (primary state, not a projection).
//! - [`HookState`]: where each hook of the definition is in the log (primary state too).
//! - [`Cursors`]: how far durable readers of the log got (the bus relay), and the store's
//!   identity (primary state too).
//!
//! The traits are object safe (their futures are boxed): the store is chosen at run time,
//! and one boxed future per call costs nothing beside a commit.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use factory_types::{BoxFuture, BuildId, BuildKey, Digest, Seq, WaveId};
use tokio::sync::watch;

use crate::cas::{GcReport, InlineBlob};
use crate::error::Result;
use crate::event::{Event, RecordedEvent};
use crate::records::{
    ArtifactRecord, BuildRecord, ComponentRecord, LogChunk, ReleaseRecord, Scope, TokenRecord,
    WaveRecord,
};

/// The append-only event log.
pub trait EventLog: Send + Sync {
    /// Appends `events` atomically and in order; returns their sequence numbers once they are
    /// durable, together with the projections they update. If any event is rejected, none of
    /// them is written.
    fn append(&self, events: Vec<Event>) -> BoxFuture<'_, Result<Vec<Seq>>>;

    /// Like [`EventLog::append`], but the events are handed to the writer *now*, before the
    /// returned future is awaited. Submissions from one task are committed in the order they
    /// were submitted, so a producer (e.g. a log forwarder) can keep many appends in flight
    /// and await only the acknowledgements it needs. Dropping the returned future does not
    /// cancel the append (fire and forget); [`EventLog::flush`] waits for such appends.
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<Vec<Seq>>>;

    /// Like [`Self::submit`], for an append nobody waits for (progress, logs, a success
    /// that dependents need not see committed): the writer may hold it a moment so that
    /// what follows shares its commit.
    fn submit_lazy(&self, events: Vec<Event>) -> BoxFuture<'static, Result<Vec<Seq>>> {
        self.submit(events)
    }

    /// Like [`Self::submit_lazy`], and `blobs` (small blobs that `events` refer to) are kept
    /// in the database, in the same transaction: an event is never durable without them.
    fn submit_lazy_with_blobs(
        &self,
        events: Vec<Event>,
        blobs: Vec<InlineBlob>,
    ) -> BoxFuture<'static, Result<Vec<Seq>>>;

    /// Waits until everything submitted before this call is durable (or was rejected), e.g.
    /// before exiting after fire-and-forget submissions.
    fn flush(&self) -> BoxFuture<'_, Result<()>>;

    /// Appends one event; see [`EventLog::append`].
    fn append_one(&self, event: Event) -> BoxFuture<'_, Result<Seq>> {
        let appended = self.append(vec![event]);
        Box::pin(async move { Ok(appended.await?[0]) })
    }

    /// Up to `limit` events with a sequence number greater than `after`, in order.
    fn events_since(&self, after: Seq, limit: u32) -> BoxFuture<'_, Result<Vec<RecordedEvent>>>;

    /// The sequence number of the last event (0 when the log is empty).
    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>>;

    /// Changes whenever this process commits events. Appends by other processes are not
    /// signalled; followers also poll (see [`EventFollower`]).
    fn commits(&self) -> watch::Receiver<Seq>;
}

/// What the engine asks while it plans and runs waves.
pub trait EngineQueries: Send + Sync {
    /// The latest build with this key that succeeded (ran and produced outputs).
    fn succeeded_build_by_key<'a>(
        &'a self,
        key: &'a BuildKey,
    ) -> BoxFuture<'a, Result<Option<BuildRecord>>>;

    /// The latest build of `component` whose outputs are usable (succeeded, reused, unchanged).
    fn latest_successful_build<'a>(
        &'a self,
        component: &'a str,
    ) -> BoxFuture<'a, Result<Option<BuildRecord>>>;

    /// [`Self::latest_successful_build`] of each of `components` that has one, in one query.
    fn latest_successful_builds<'a>(
        &'a self,
        components: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<BuildRecord>>>;

    /// Every build of a wave with its state, in queue order.
    fn builds_of_wave(&self, wave: WaveId) -> BoxFuture<'_, Result<Vec<BuildRecord>>>;

    /// Waves without a `WaveFinished` event: what to resume after a crash.
    fn unfinished_waves(&self) -> BoxFuture<'_, Result<Vec<WaveRecord>>>;

    /// Builds that are scheduled or building: what to resume after a crash.
    fn unfinished_builds(&self) -> BoxFuture<'_, Result<Vec<BuildRecord>>>;
}

/// What the CLI and the server show.
pub trait Views: Send + Sync {
    fn build(&self, id: BuildId) -> BoxFuture<'_, Result<Option<BuildRecord>>>;

    fn latest_build<'a>(&'a self, component: &'a str)
    -> BoxFuture<'a, Result<Option<BuildRecord>>>;

    /// Every build of `component`, oldest first.
    fn builds_of_component<'a>(
        &'a self,
        component: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BuildRecord>>>;

    fn wave(&self, id: WaveId) -> BoxFuture<'_, Result<Option<WaveRecord>>>;

    /// The latest `limit` waves, newest first.
    fn recent_waves(&self, limit: u32) -> BoxFuture<'_, Result<Vec<WaveRecord>>>;

    fn component<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ComponentRecord>>>;

    fn component_names(&self) -> BoxFuture<'_, Result<Vec<String>>>;

    /// The sequence number of the event that first recorded this forge delivery.
    fn webhook_delivery<'a>(
        &'a self,
        forge: &'a str,
        delivery: &'a str,
    ) -> BoxFuture<'a, Result<Option<Seq>>>;

    /// Every component as [`Self::component`] gives it, by name, in three queries.
    fn components(&self) -> BoxFuture<'_, Result<Vec<ComponentRecord>>>;

    fn artifacts_of_build(&self, build: BuildId) -> BoxFuture<'_, Result<Vec<ArtifactRecord>>>;

    /// The log of a build after `after`, in order (read while the build runs, too).
    fn build_log(&self, build: BuildId, after: Seq) -> BoxFuture<'_, Result<Vec<LogChunk>>>;
}

/// Garbage collection and the projections' upkeep.
pub trait Maintenance: Send + Sync {
    /// Digests that garbage collection must keep: the outputs and artifacts of each component's
    /// latest usable build (succeeded, reused or cut off: the newest of those, whatever
    /// failed or was cancelled after it), the outputs and inputs of unfinished (queued or
    /// running) builds, and artifacts stored without a build. Outputs of older usable builds
    /// that a newer one superseded are garbage.
    fn live_digests(&self) -> BoxFuture<'_, Result<HashSet<Digest>>>;

    /// Removes every inline blob that is not live (see [`Self::live_digests`]). What is live
    /// is decided in the transaction that removes, so a build that commits its success
    /// meanwhile cannot lose its blob.
    fn collect_inline_blobs(&self) -> BoxFuture<'_, Result<GcReport>>;

    /// Drops every projection and replays the whole log into it.
    fn rebuild_projections(&self) -> BoxFuture<'_, Result<Seq>>;

    /// Every projection row as text, by table, in a stable order: what a replay of the log
    /// must reproduce exactly (for tests and for checking a store by hand).
    fn dump_projections(&self) -> BoxFuture<'_, Result<BTreeMap<String, Vec<String>>>>;
}

/// The small blobs kept in the database (see [`InlineBlob`]); the others are files in
/// [`crate::Cas`].
pub trait InlineBlobs: Send + Sync {
    /// The bytes of the blob, if the database holds it.
    fn inline_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Those of `digests` that the database holds.
    fn inline_blobs_present<'a>(
        &'a self,
        digests: &'a [Digest],
    ) -> BoxFuture<'a, Result<HashSet<Digest>>>;

    /// Every blob the database holds, with its size, by digest (as [`crate::Cas::list`]).
    fn inline_blob_sizes(&self) -> BoxFuture<'_, Result<Vec<(Digest, u64)>>>;
}

/// API tokens. The store keeps only a token's hash; the token itself is shown once, when it
/// is made.
///
/// Tokens are primary state, not a projection of the log: their hashes must never be in an
/// event (events leave the store), so the log could not rebuild them, and
/// [`Maintenance::rebuild_projections`] leaves them alone. Each change is also recorded in
/// the log, without the hash, as an audit event ([`Event::TokenCreated`],
/// [`Event::TokenRevoked`]), in the same transaction as the change.
pub trait Tokens: Send + Sync {
    /// Records a new active token; durable when this returns. Fails with
    /// [`StoreError::TokenExists`](crate::StoreError::TokenExists) (an input fault) if an
    /// active token has this name, with
    /// [`StoreError::InvalidTokenName`](crate::StoreError::InvalidTokenName) if the name or
    /// an owner is empty or holds whitespace, and with
    /// [`StoreError::TokenReused`](crate::StoreError::TokenReused) if a token (even a
    /// revoked one) already has this hash.
    fn create_token<'a>(
        &'a self,
        name: &'a str,
        scope: Scope,
        owners: &'a [String],
        hash: &'a Digest,
    ) -> BoxFuture<'a, Result<TokenRecord>>;

    /// Every token, active and revoked, by name (tokens of the same name oldest first).
    fn tokens(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>>>;

    /// Revokes the active token of this name; None if there is none. Durable when this
    /// returns.
    fn revoke_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<TokenRecord>>>;

    /// The active token with this hash (see [`crate::token_hash`]).
    fn token_by_hash<'a>(&'a self, hash: &'a Digest) -> BoxFuture<'a, Result<Option<TokenRecord>>>;
}

/// Where each hook of the definition is in the log: the last event it has dealt with (run
/// for, or found not to concern it). Hooks deliver at least once: a hook's cursor moves past
/// an event only once its outcome is recorded, in the same transaction.
///
/// Cursors are primary state, not a projection: most events a hook passes leave no trace
/// in the log, so the log could not rebuild them, and
/// [`Maintenance::rebuild_projections`] leaves them alone.
pub trait HookState: Send + Sync {
    /// The cursor of hook `name`; none for a hook never started (or forgotten).
    fn hook_cursor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Seq>>>;

    /// Every hook's cursor, by name.
    fn hook_cursors(&self) -> BoxFuture<'_, Result<Vec<(String, Seq)>>>;

    /// Appends `events` (a hook's outcome, or nothing) and moves the cursor of hook `name` to
    /// `to`, in one transaction: durable together when this returns, or not at all. A cursor
    /// never moves back: a `to` behind it leaves it where it is.
    fn advance_hook<'a>(
        &'a self,
        name: &'a str,
        to: Seq,
        events: Vec<Event>,
    ) -> BoxFuture<'a, Result<Vec<Seq>>>;

    /// Forgets hook `name` (it left the definition): added again, it starts afresh.
    fn forget_hook<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>>;
}

/// Durable positions in the log, by name, for readers that must resume where they stopped
/// after a crash (the bus relay publishes after its cursor, and moves it only once the
/// broker confirmed). Primary state beside the log, like [`Tokens`]: the log cannot say how
/// far a reader got, so [`Maintenance::rebuild_projections`] leaves cursors alone. Moving a
/// cursor appends no event (it would be one more event for the relay to publish, forever).
pub trait Cursors: Send + Sync {
    /// The cursor's position: the last event its reader is done with; 0 for a cursor never
    /// set.
    fn cursor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Seq>>;

    /// Sets the cursor; durable when this returns. It may move backwards (a reader replaying
    /// on purpose). Fails with [`StoreError::InvalidCursorName`](crate::StoreError::InvalidCursorName)
    /// for an empty name or one with whitespace.
    fn set_cursor<'a>(&'a self, name: &'a str, seq: Seq) -> BoxFuture<'a, Result<()>>;

    /// The store's identity: 16 random bytes drawn when the store was made, the same for as
    /// long as the store lives and different for every store.
    fn store_identity(&self) -> BoxFuture<'_, Result<[u8; 16]>>;
}

/// Releases of product streams, for the releaser and the views.
pub trait Releases: Send + Sync {
    /// Every release of a stream, oldest first.
    fn releases_of_stream<'a>(
        &'a self,
        product: &'a str,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ReleaseRecord>>>;

    /// The newest releases of every stream, newest first.
    fn recent_releases(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseRecord>>>;

    /// The end-of-life notices a stream gave (`warning`, `ended`).
    fn stream_notices<'a>(
        &'a self,
        product: &'a str,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>>>;
}

/// A whole storage backend: every audience's part.
pub trait Backend:
    EventLog
    + EngineQueries
    + Views
    + Maintenance
    + InlineBlobs
    + Tokens
    + HookState
    + Cursors
    + Releases
{
    /// Closes the connections used for reading; the writer stops when the last handle goes.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Follows the event log: yields every event after a position exactly once, in order, and
/// waits for new ones. It re-reads the log after each wake-up, so a missed or coalesced
/// notification never loses an event; it also polls, to see other processes' appends.
pub struct EventFollower {
    log: Arc<dyn Backend>,
    cursor: Seq,
    commits: watch::Receiver<Seq>,
    buffer: std::collections::VecDeque<RecordedEvent>,
    poll_interval: Duration,
}

const FOLLOW_PAGE: u32 = 1024;

impl EventFollower {
    pub fn new(log: Arc<dyn Backend>, after: Seq) -> Self {
        let commits = log.commits();
        EventFollower {
            log,
            cursor: after,
            commits,
            buffer: Default::default(),
            poll_interval: Duration::from_millis(200),
        }
    }

    /// How often to look for appends by other processes (default 200 ms).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The sequence number of the last event returned.
    pub fn position(&self) -> Seq {
        self.cursor
    }

    /// The next event, waiting for it if needed.
    pub async fn next(&mut self) -> Result<RecordedEvent> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.cursor = event.seq;
                return Ok(event);
            }
            // Mark the current notification as seen *before* reading, so a commit that lands
            // after the read wakes us up again.
            self.commits.borrow_and_update();
            let page = self.log.events_since(self.cursor, FOLLOW_PAGE).await?;
            if !page.is_empty() {
                self.buffer.extend(page);
                continue;
            }
            wait_for_commit(&mut self.commits, self.poll_interval).await;
        }
    }

    /// The events already in the log after the cursor, without waiting (at most one page).
    pub async fn next_available(&mut self) -> Result<Vec<RecordedEvent>> {
        let mut events: Vec<RecordedEvent> = self.buffer.drain(..).collect();
        if events.is_empty() {
            events = self.log.events_since(self.cursor, FOLLOW_PAGE).await?;
        }
        if let Some(last) = events.last() {
            self.cursor = last.seq;
        }
        Ok(events)
    }
}

/// Waits for this process's next commit, or for `poll` (another process may have appended).
async fn wait_for_commit(commits: &mut watch::Receiver<Seq>, poll: Duration) {
    tokio::select! {
        changed = commits.changed() => {
            if changed.is_err() {
                // Our writer is gone; other processes may still append.
                tokio::time::sleep(poll).await;
            }
        }
        _ = tokio::time::sleep(poll) => {}
    }
}

/// Follows one build's log: returns chunks as they are appended, and `None` once the build
/// has finished and everything it logged was returned (for `factory log BUILD --follow`).
pub struct LogFollower {
    store: Arc<dyn Backend>,
    build: BuildId,
    cursor: Seq,
    commits: watch::Receiver<Seq>,
    poll_interval: Duration,
}

impl LogFollower {
    pub fn new(store: Arc<dyn Backend>, build: BuildId) -> Self {
        let commits = store.commits();
        LogFollower {
            store,
            build,
            cursor: Seq(0),
            commits,
            poll_interval: Duration::from_millis(200),
        }
    }

    /// How often to look for appends by other processes (default 200 ms).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The next chunks, waiting for them while the build is unfinished; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<LogChunk>>> {
        loop {
            self.commits.borrow_and_update();
            // Read the state before the log: a chunk appended after a finished state was
            // read is still returned by the read that follows.
            let build = self.store.build(self.build).await?;
            let Some(build) = build else {
                return Err(crate::error::StoreError::UnknownBuild { build: self.build });
            };
            let chunks = self.store.build_log(self.build, self.cursor).await?;
            if let Some(last) = chunks.last() {
                self.cursor = last.seq;
                return Ok(Some(chunks));
            }
            if !build.state.is_unfinished() {
                return Ok(None);
            }
            wait_for_commit(&mut self.commits, self.poll_interval).await;
        }
    }
}
