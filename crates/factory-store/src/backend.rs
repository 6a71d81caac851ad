//! The storage interface. The SQLite implementation is the embedded default; a PostgreSQL
//! implementation can be added later behind these same traits, and the conformance checks in
//! `tests/` are written against the traits so they can run on both.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::cas::{GcReport, InlineBlob};
use crate::digest::Digest;
use crate::error::Result;
use crate::event::{BuildId, BuildKey, Event, RecordedEvent, Seq, WaveId};
use crate::records::{ArtifactRecord, BuildRecord, ComponentRecord, LogChunk, WaveRecord};

/// The append-only event log.
pub trait EventLog: Clone + Send + Sync + 'static {
    /// Appends `events` atomically and in order; returns their sequence numbers once they are
    /// durable, together with the projections they update. If any event is rejected, none of
    /// them is written.
    fn append(&self, events: Vec<Event>) -> impl Future<Output = Result<Vec<Seq>>> + Send;

    /// Like [`EventLog::append`], but the events are handed to the writer *now*, before the
    /// returned future is awaited. Submissions from one task are committed in the order they
    /// were submitted, so a producer (e.g. a log forwarder) can keep many appends in flight
    /// and await only the acknowledgements it needs. Dropping the returned future does not
    /// cancel the append (fire and forget); [`EventLog::flush`] waits for such appends.
    fn submit(&self, events: Vec<Event>)
    -> impl Future<Output = Result<Vec<Seq>>> + Send + 'static;

    /// Like [`Self::submit`], for an append nobody waits for (progress, logs, a success
    /// that dependents need not see committed): the writer may hold it a moment so that
    /// what follows shares its commit.
    fn submit_lazy(
        &self,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<Vec<Seq>>> + Send + 'static {
        self.submit(events)
    }

    /// Like [`Self::submit_lazy`], and `blobs` (small blobs that `events` refer to) are kept
    /// in the database, in the same transaction: an event is never durable without them.
    fn submit_lazy_with_blobs(
        &self,
        events: Vec<Event>,
        blobs: Vec<InlineBlob>,
    ) -> impl Future<Output = Result<Vec<Seq>>> + Send + 'static;

    /// Waits until everything submitted before this call is durable (or was rejected), e.g.
    /// before exiting after fire-and-forget submissions.
    fn flush(&self) -> impl Future<Output = Result<()>> + Send;

    /// Appends one event; see [`EventLog::append`].
    fn append_one(&self, event: Event) -> impl Future<Output = Result<Seq>> + Send {
        async move {
            let seqs = self.append(vec![event]).await?;
            Ok(seqs[0])
        }
    }

    /// Up to `limit` events with a sequence number greater than `after`, in order.
    fn events_since(
        &self,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send;

    /// The sequence number of the last event (0 when the log is empty).
    fn last_seq(&self) -> impl Future<Output = Result<Seq>> + Send;

    /// Changes whenever this process commits events. Appends by other processes are not
    /// signalled; followers also poll (see [`EventFollower`]).
    fn commits(&self) -> watch::Receiver<Seq>;

    /// Follows the log from `after` on: every event exactly once, in order, waiting for new ones.
    fn follow(&self, after: Seq) -> EventFollower<Self> {
        EventFollower::new(self.clone(), after)
    }
}

/// The queries the engine and the CLI need, answered from the projections.
pub trait Projections: Send + Sync {
    fn build(&self, id: BuildId) -> impl Future<Output = Result<Option<BuildRecord>>> + Send;

    /// The latest build with this key that succeeded (ran and produced outputs).
    fn succeeded_build_by_key(
        &self,
        key: &BuildKey,
    ) -> impl Future<Output = Result<Option<BuildRecord>>> + Send;

    fn latest_build(
        &self,
        component: &str,
    ) -> impl Future<Output = Result<Option<BuildRecord>>> + Send;

    /// The latest build of `component` whose outputs are usable (succeeded, reused, unchanged).
    fn latest_successful_build(
        &self,
        component: &str,
    ) -> impl Future<Output = Result<Option<BuildRecord>>> + Send;

    /// [`Self::latest_successful_build`] of each of `components` that has one, in one query.
    fn latest_successful_builds(
        &self,
        components: &[String],
    ) -> impl Future<Output = Result<Vec<BuildRecord>>> + Send;

    /// Every build of `component`, oldest first.
    fn builds_of_component(
        &self,
        component: &str,
    ) -> impl Future<Output = Result<Vec<BuildRecord>>> + Send;

    /// Every build of a wave with its state, in queue order.
    fn builds_of_wave(&self, wave: WaveId)
    -> impl Future<Output = Result<Vec<BuildRecord>>> + Send;

    fn wave(&self, id: WaveId) -> impl Future<Output = Result<Option<WaveRecord>>> + Send;

    /// The latest `limit` waves, newest first.
    fn recent_waves(&self, limit: u32) -> impl Future<Output = Result<Vec<WaveRecord>>> + Send;

    /// Waves without a `WaveFinished` event: what to resume after a crash.
    fn unfinished_waves(&self) -> impl Future<Output = Result<Vec<WaveRecord>>> + Send;

    /// Builds that are scheduled or building: what to resume after a crash.
    fn unfinished_builds(&self) -> impl Future<Output = Result<Vec<BuildRecord>>> + Send;

    fn component(&self, name: &str)
    -> impl Future<Output = Result<Option<ComponentRecord>>> + Send;

    fn component_names(&self) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Every component as [`Self::component`] gives it, by name, in three queries.
    fn components(&self) -> impl Future<Output = Result<Vec<ComponentRecord>>> + Send;

    fn artifacts_of_build(
        &self,
        build: BuildId,
    ) -> impl Future<Output = Result<Vec<ArtifactRecord>>> + Send;

    /// The log of a build after `after`, in order (read while the build runs, too).
    fn build_log(
        &self,
        build: BuildId,
        after: Seq,
    ) -> impl Future<Output = Result<Vec<LogChunk>>> + Send;

    /// Digests that garbage collection must keep: the outputs and artifacts of each component's
    /// latest usable build (succeeded, reused or cut off: the newest of those, whatever
    /// failed or was cancelled after it), the outputs and inputs of unfinished (queued or
    /// running) builds, and artifacts stored without a build. Outputs of older usable builds
    /// that a newer one superseded are garbage.
    fn live_digests(&self) -> impl Future<Output = Result<HashSet<Digest>>> + Send;

    /// Drops every projection and replays the whole log into it.
    fn rebuild_projections(&self) -> impl Future<Output = Result<Seq>> + Send;
}

/// The small blobs kept in the database (see [`InlineBlob`]); the others are files in
/// [`crate::Cas`].
pub trait InlineBlobs: Send + Sync {
    /// The bytes of the blob, if the database holds it.
    fn inline_blob(&self, digest: &Digest) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Those of `digests` that the database holds.
    fn inline_blobs_present(
        &self,
        digests: &[Digest],
    ) -> impl Future<Output = Result<HashSet<Digest>>> + Send;

    /// Every blob the database holds, with its size, by digest (as [`crate::Cas::list`]).
    fn inline_blob_sizes(&self) -> impl Future<Output = Result<Vec<(Digest, u64)>>> + Send;

    /// Removes every inline blob that is not live (see [`Projections::live_digests`]). What
    /// is live is decided in the transaction that removes, so a build that commits its
    /// success meanwhile cannot lose its blob.
    fn collect_inline_blobs(&self) -> impl Future<Output = Result<GcReport>> + Send;
}

/// Follows the event log: yields every event after a position exactly once, in order, and
/// waits for new ones. It re-reads the log after each wake-up, so a missed or coalesced
/// notification never loses an event; it also polls, to see other processes' appends.
pub struct EventFollower<L: EventLog> {
    log: L,
    cursor: Seq,
    commits: watch::Receiver<Seq>,
    buffer: std::collections::VecDeque<RecordedEvent>,
    poll_interval: Duration,
}

const FOLLOW_PAGE: u32 = 1024;

impl<L: EventLog> EventFollower<L> {
    fn new(log: L, after: Seq) -> Self {
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
            tokio::select! {
                changed = self.commits.changed() => {
                    if changed.is_err() {
                        // Our writer is gone; other processes may still append.
                        tokio::time::sleep(self.poll_interval).await;
                    }
                }
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
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

/// Follows one build's log: returns chunks as they are appended, and `None` once the build
/// has finished and everything it logged was returned (for `factory log BUILD --follow`).
pub struct LogFollower<S: EventLog + Projections> {
    store: S,
    build: BuildId,
    cursor: Seq,
    commits: watch::Receiver<Seq>,
    poll_interval: Duration,
}

impl<S: EventLog + Projections> LogFollower<S> {
    pub fn new(store: S, build: BuildId) -> Self {
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
            tokio::select! {
                changed = self.commits.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(self.poll_interval).await;
                    }
                }
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }
}
