//! The SQLite implementation of the store (the embedded default).
//!
//! One writer task owns the only writing connection. Appenders send their events to it over a
//! channel; it takes everything waiting (a group), commits the group in one transaction with
//! the projection updates, and only then acknowledges each appender. While a group is being
//! fsynced the next one accumulates, so the cost of a durable commit is shared by everyone
//! who appended meanwhile. Reads go through a separate pool (WAL lets readers run during a
//! write).

mod cursors;
mod hooks;
mod projection;
mod queries;
mod releases;
mod tokens;
mod traits;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use factory_types::Clock;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cas::{GcReport, InlineBlob};
use crate::error::{Result, StoreError};
use crate::event::{Event, RecordedEvent, WireEvent};
use factory_types::Seq;

/// Most events committed in one transaction: large enough to amortise the fsync, small
/// enough that one group does not hold the write lock for long.
const MAX_GROUP_EVENTS: usize = 16_384;

/// Scheduler turns without a new request after which a group is committed.
const GATHER_YIELDS: u32 = 2;

/// How long a group of lazy requests only ([`EventLog::submit_lazy`]) stays open for
/// company. The engine submits lazily what nobody waits for yet (successes, logs, the
/// queued events of builds whose work is still running), so a commit, with its fsync and
/// its page writes, is shared by the events of several builds.
const LAZY_LINGER: std::time::Duration = std::time::Duration::from_millis(8);

/// How long a group stays open for more requests when the previous group held several:
/// concurrent appenders (builds running side by side) then share one fsync instead of
/// paying one each. A lone appender never waits, so sequential appends stay fast.
const CONCURRENT_LINGER: std::time::Duration = std::time::Duration::from_micros(500);

/// Rows per multi-row INSERT. Row counts are split into powers of two up to this so only a
/// handful of distinct statements exist (they stay in the prepared-statement cache).
const MAX_ROWS_PER_INSERT: usize = 256;

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the writer keeps trying a group of appends while the disk is full. A build
/// that fills the disk does so for a moment (its output is removed when it fails); the
/// events of everything else must not be lost or fail meanwhile.
const DISK_FULL_PATIENCE: Duration = Duration::from_secs(5);

/// Handle on a SQLite event store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: SqlitePool,
    requests: mpsc::UnboundedSender<WriterRequest>,
    commits: watch::Receiver<Seq>,
}

/// What one append writes in one transaction: its events, the small blobs they refer to,
/// and the hook cursor they move (a hook's outcome, see [`hooks`]).
struct Batch {
    events: Vec<(Event, WireEvent)>,
    blobs: Vec<InlineBlob>,
    cursor: Option<(String, Seq)>,
}

enum WriterRequest {
    Append {
        batch: Batch,
        reply: oneshot::Sender<Result<Vec<Seq>>>,
        /// Nobody waits for it: see [`EventLog::submit_lazy`].
        lazy: bool,
    },
    /// What is not grouped with appends: it runs by itself, after the appends sent before it
    /// are committed.
    Alone(Alone),
}

enum Alone {
    RebuildProjections {
        reply: oneshot::Sender<Result<Seq>>,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
    CollectInlineBlobs {
        reply: oneshot::Sender<Result<GcReport>>,
    },
    /// A change of the API tokens, in a transaction of its own (see [`tokens`]).
    Token(tokens::TokenWrite),
    /// A hook forgotten (see [`hooks`]).
    Hook(hooks::Forget),
    /// A durable cursor moved (see [`cursors`]).
    Cursor(cursors::CursorWrite),
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the migrations.
    /// `clock` stamps every commit (`recorded_at_ms` of its events).
    pub(crate) async fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteStore> {
        const ATTEMPTS: u32 = 8;
        let mut attempt = 1;
        loop {
            match Self::open_once(path, clock.clone()).await {
                Err(err) if attempt < ATTEMPTS && is_contention_while_opening(&err) => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn open_once(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteStore> {
        let db_err = |source| StoreError::database(path, source);
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode this fsyncs the log on every commit, so an acknowledged event
            // survives power loss, not only a process crash (NORMAL would only promise the
            // latter). Group commit makes the one fsync per group affordable.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(false);

        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            // A connection to a local file does not go stale; pinging it before every query
            // would double the round trips to its worker thread.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        migrate(&readers, path).await?;
        let mut writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(db_err)?;
        let last = read_last_seq(&mut writer).await.map_err(db_err)?;

        let (requests, receiver) = mpsc::unbounded_channel();
        let (commits_tx, commits) = watch::channel(last);
        let writer_task = Writer {
            path: path.to_owned(),
            options: options.clone(),
            conn: writer,
            commits: commits_tx,
            clock,
        };
        tokio::spawn(writer_task.run(receiver));

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                readers,
                requests,
                commits,
            }),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn readers(&self) -> &SqlitePool {
        &self.inner.readers
    }

    pub(crate) fn db_err(&self, source: sqlx::Error) -> StoreError {
        StoreError::database(&self.inner.path, source)
    }

    /// Closes the read pool. The writer stops when the last clone of this handle is dropped.
    pub(crate) async fn close(&self) {
        self.inner.readers.close().await;
    }

    fn send(&self, request: WriterRequest) -> Result<()> {
        self.inner
            .requests
            .send(request)
            .map_err(|_| StoreError::WriterStopped {
                path: self.inner.path.clone(),
            })
    }

    fn stopped(&self) -> StoreError {
        StoreError::WriterStopped {
            path: self.inner.path.clone(),
        }
    }

    async fn rebuild(&self) -> Result<Seq> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::RebuildProjections { reply }))?;
        answer.await.map_err(|_| self.stopped())?
    }

    async fn collect_inline(&self) -> Result<GcReport> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::CollectInlineBlobs { reply }))?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn submit_with(
        &self,
        events: Vec<Event>,
        blobs: Vec<InlineBlob>,
        lazy: bool,
    ) -> impl Future<Output = Result<Vec<Seq>>> + Send + 'static {
        // Encoding happens here, in the appender's task, so it runs in parallel.
        let events: Vec<(Event, WireEvent)> = events
            .into_iter()
            .map(|event| {
                let wire = WireEvent::encode(&event);
                (event, wire)
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        let sent = if events.is_empty() && blobs.is_empty() {
            let _ = reply.send(Ok(Vec::new()));
            Ok(())
        } else {
            self.send(WriterRequest::Append {
                batch: Batch {
                    events,
                    blobs,
                    cursor: None,
                },
                reply,
                lazy,
            })
        };
        let stopped = self.stopped();
        async move {
            sent?;
            answer.await.map_err(|_| stopped)?
        }
    }
}

/// The log's reads and waits; [`traits`] puts them behind [`crate::EventLog`].
impl SqliteStore {
    async fn flush(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Flush { reply }))?;
        answer.await.map_err(|_| self.stopped())
    }

    async fn events_since(&self, after: Seq, limit: u32) -> Result<Vec<RecordedEvent>> {
        let rows = sqlx::query(
            "SELECT seq, recorded_at_ms, kind, schema_version, body FROM events \
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(seq_to_sql(after))
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        rows.iter().map(decode_event_row).collect()
    }

    async fn last_seq(&self) -> Result<Seq> {
        let mut conn = self.readers().acquire().await.map_err(|e| self.db_err(e))?;
        read_last_seq(&mut conn).await.map_err(|e| self.db_err(e))
    }

    fn commits(&self) -> watch::Receiver<Seq> {
        self.inner.commits.clone()
    }
}

/// Applies the migrations (through the pool: running them on a `&mut SqliteConnection` makes
/// the open future unusable in `tokio::spawn`, as sqlx's `Acquire` bound is not general enough).
async fn migrate(pool: &SqlitePool, path: &Path) -> Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(|source| StoreError::Migration {
            path: path.to_owned(),
            source,
        })
}

/// Errors that another process opening the same new store at the same moment can cause, and
/// that a second attempt resolves: SQLite answers "busy" without waiting while it switches a
/// database to WAL or when a reader must upgrade to a writer, and the loser of a race to apply
/// a migration gets "table already exists" (each migration is one transaction, so the failed
/// attempt left nothing behind and the next one finds it applied).
fn is_contention_while_opening(err: &StoreError) -> bool {
    use sqlx::migrate::MigrateError;
    match err {
        StoreError::Database { source, .. } => is_busy(source),
        StoreError::Migration {
            source: MigrateError::Execute(_) | MigrateError::ExecuteMigration(..),
            ..
        } => true,
        _ => false,
    }
}

fn is_busy(err: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), possibly as extended codes (low byte).
    err.as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// Whether the file system holding the database at `path` has (next to) no space left.
fn no_space_left(path: &Path) -> bool {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    dir.is_some_and(factory_types::disk::no_space_left)
}

fn decode_event_row(row: &sqlx::sqlite::SqliteRow) -> Result<RecordedEvent> {
    let seq = Seq(row.get::<i64, _>(0) as u64);
    let wire = WireEvent {
        kind: row.get(2),
        schema_version: row.get::<i64, _>(3) as u32,
        body: row.get(4),
    };
    Ok(RecordedEvent {
        seq,
        recorded_at_ms: row.get(1),
        event: wire.decode(seq)?,
    })
}

async fn read_last_seq(conn: &mut SqliteConnection) -> sqlx::Result<Seq> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
        .fetch_one(conn)
        .await?;
    Ok(Seq(last.unwrap_or(0) as u64))
}

pub(crate) fn seq_to_sql(seq: Seq) -> i64 {
    // Sequence numbers come from SQLite's 63-bit integers, so they always fit.
    i64::try_from(seq.0).unwrap_or(i64::MAX)
}

/// The next request for the current group: one already waiting, or one that arrives within a
/// few scheduler turns. Appenders woken by the previous commit are often still on their way;
/// waiting for them costs a couple of yields when the factory is idle and fills the groups
/// (and so multiplies throughput) when it is busy.
async fn gather_next(
    receiver: &mut mpsc::UnboundedReceiver<WriterRequest>,
    linger_until: Option<std::time::Instant>,
) -> Option<WriterRequest> {
    for _ in 0..GATHER_YIELDS {
        if let Ok(request) = receiver.try_recv() {
            return Some(request);
        }
        tokio::task::yield_now().await;
    }
    if let Ok(request) = receiver.try_recv() {
        return Some(request);
    }
    let until = linger_until?;
    tokio::time::timeout_at(until.into(), receiver.recv())
        .await
        .ok()
        .flatten()
}

struct Writer {
    path: PathBuf,
    options: SqliteConnectOptions,
    conn: SqliteConnection,
    commits: watch::Sender<Seq>,
    clock: Arc<dyn Clock>,
}

type Pending = (Batch, oneshot::Sender<Result<Vec<Seq>>>);

impl Writer {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<WriterRequest>) {
        let mut group: Vec<Pending> = Vec::new();
        let mut concurrent = false;
        while let Some(first) = receiver.recv().await {
            let opened = std::time::Instant::now();
            let linger_until = concurrent.then(|| opened + CONCURRENT_LINGER);
            // Until a request that somebody awaits joins, the group waits for company.
            let mut all_lazy = true;
            let mut group_events = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    WriterRequest::Append { batch, reply, lazy } => {
                        all_lazy &= lazy;
                        group_events += batch.events.len();
                        group.push((batch, reply));
                    }
                    WriterRequest::Alone(alone) => {
                        // Requests are handled in arrival order: what was sent before this
                        // one is committed before it runs.
                        self.commit_group(&mut group).await;
                        group_events = 0;
                        self.handle_alone(alone).await;
                    }
                }
                if group_events < MAX_GROUP_EVENTS {
                    let until = if all_lazy {
                        Some(opened + LAZY_LINGER)
                    } else {
                        linger_until
                    };
                    next = gather_next(&mut receiver, until).await;
                }
            }
            concurrent = group.len() > 1;
            let started = std::time::Instant::now();
            self.commit_group(&mut group).await;
            tracing::trace!(
                events = group_events,
                micros = started.elapsed().as_micros() as u64,
                "committed a group"
            );
        }
        let _ = self.conn.close().await;
    }

    /// A request that is not an append, once the appends before it are committed.
    async fn handle_alone(&mut self, request: Alone) {
        match request {
            Alone::RebuildProjections { reply } => {
                let result = projection::rebuild(&mut self.conn)
                    .await
                    .map_err(|e| e.with_path(&self.path));
                if result.is_err() && self.conn.is_in_transaction() {
                    self.reconnect().await;
                }
                let _ = reply.send(result);
            }
            Alone::CollectInlineBlobs { reply } => {
                let _ = reply.send(self.collect_inline_blobs().await);
            }
            // Committing the group that was being gathered finished everything sent before
            // the flush.
            Alone::Flush { reply } => drop(reply.send(())),
            Alone::Token(write) => self.write_token(write).await,
            Alone::Hook(forget) => self.forget_hook(forget).await,
            Alone::Cursor(write) => self.write_cursor(write).await,
        }
    }

    /// Commits all pending appends in one transaction and acknowledges them. If the group
    /// fails, each request is retried alone so one rejected request cannot fail the others.
    async fn commit_group(&mut self, group: &mut Vec<Pending>) {
        if group.is_empty() {
            return;
        }
        let batches: Vec<&Batch> = group.iter().map(|(batch, _)| batch).collect();
        match self.commit_patiently(&batches).await {
            Ok(seqs) => {
                if let Some(last) = seqs.iter().flatten().max() {
                    self.commits.send_replace(*last);
                }
                for ((_, reply), seqs) in group.drain(..).zip(seqs) {
                    let _ = reply.send(Ok(seqs));
                }
            }
            Err(_) if group.len() > 1 => {
                for (batch, reply) in group.drain(..) {
                    let result = self.commit(&[&batch]).await;
                    if let Some(last) = result.as_ref().ok().and_then(|s| s[0].last()) {
                        self.commits.send_replace(*last);
                    }
                    let _ = reply.send(result.map(|mut seqs| seqs.remove(0)));
                }
            }
            Err(err) => {
                if let Some((_, reply)) = group.pop() {
                    let _ = reply.send(Err(err));
                }
            }
        }
    }

    /// [`Self::commit`], tried again for a while (with growing pauses) when the disk is full.
    async fn commit_patiently(&mut self, batches: &[&Batch]) -> Result<Vec<Vec<Seq>>> {
        let give_up = tokio::time::Instant::now() + DISK_FULL_PATIENCE;
        let mut pause = Duration::from_millis(20);
        loop {
            match self.commit(batches).await {
                Err(StoreError::DiskFull { .. })
                    if tokio::time::Instant::now() + pause < give_up =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                result => return result,
            }
        }
    }

    /// One transaction: events get MAX(seq)+1, +2, ... and the projections are updated.
    async fn commit(&mut self, batches: &[&Batch]) -> Result<Vec<Vec<Seq>>> {
        let result = self.try_commit(batches).await;
        if result.is_err() && self.conn.is_in_transaction() {
            // A failed ROLLBACK (e.g. after SQLite already rolled back on a full disk) can
            // leave the driver believing a transaction is open; a fresh connection is the
            // reliable way back to a clean state.
            self.reconnect().await;
        }
        result
    }

    /// Garbage collection of the inline blobs, in one write transaction.
    async fn collect_inline_blobs(&mut self) -> Result<GcReport> {
        self.in_write_transaction(async |conn| queries::collect_inline_on(conn).await)
            .await
    }

    /// Runs `work` in one transaction, committed if it succeeds and rolled back if not.
    /// IMMEDIATE takes the write lock at once, so what `work` reads cannot be overtaken by
    /// another process's write.
    async fn in_write_transaction<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let db_err = |e| StoreError::database(&path, e);
        let mut tx = self
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        match work(&mut tx).await {
            Ok(value) => {
                tx.commit().await.map_err(db_err)?;
                Ok(value)
            }
            Err(err) => {
                let _ = tx.rollback().await;
                Err(err.with_path(&path))
            }
        }
    }

    async fn reconnect(&mut self) {
        match SqliteConnection::connect_with(&self.options).await {
            Ok(fresh) => {
                let stale = std::mem::replace(&mut self.conn, fresh);
                let _ = stale.close_hard().await;
            }
            Err(err) => {
                tracing::warn!(path = %self.path.display(), %err, "cannot reopen the database")
            }
        }
    }

    /// One transaction: events get MAX(seq)+1, +2, ... and the projections are updated.
    /// (The write lock taken at its start keeps the MAX(seq) read from being overtaken by
    /// another process: numbering stays gap-free and unique.)
    async fn try_commit(&mut self, batches: &[&Batch]) -> Result<Vec<Vec<Seq>>> {
        let recorded_at = self.clock.wall_ms();
        self.in_write_transaction(async |conn| write_group(conn, batches, recorded_at).await)
            .await
    }
}

/// A database error whose file the writer names later (see `StoreError::with_path`), for
/// code that runs on a connection it was handed.
pub(super) fn db_err_unnamed(source: sqlx::Error) -> StoreError {
    StoreError::database(Path::new(""), source)
}

/// Numbers the events of a group after the last one in the log, inserts them and updates the
/// projections (inside the caller's transaction).
async fn write_group(
    conn: &mut SqliteConnection,
    batches: &[&Batch],
    recorded_at: i64,
) -> Result<Vec<Vec<Seq>>> {
    let db_err = db_err_unnamed;
    for blob in batches.iter().flat_map(|batch| &batch.blobs) {
        insert_blob(&mut *conn, blob).await.map_err(db_err)?;
    }
    let mut next = read_last_seq(&mut *conn).await.map_err(db_err)?.0 + 1;
    let mut assigned = Vec::with_capacity(batches.len());
    let mut rows: Vec<(Seq, &Event, &WireEvent)> = Vec::new();
    for batch in batches {
        let mut seqs = Vec::with_capacity(batch.events.len());
        for (event, wire) in &batch.events {
            seqs.push(Seq(next));
            rows.push((Seq(next), event, wire));
            next += 1;
        }
        assigned.push(seqs);
    }
    insert_events(&mut *conn, &rows, recorded_at)
        .await
        .map_err(db_err)?;
    let events: Vec<(Seq, i64, &Event)> = rows
        .iter()
        .map(|(seq, event, _)| (*seq, recorded_at, *event))
        .collect();
    projection::apply_all(&mut *conn, &events).await?;
    for (name, to) in batches.iter().filter_map(|batch| batch.cursor.as_ref()) {
        hooks::move_cursor(&mut *conn, name, *to, recorded_at).await?;
    }
    Ok(assigned)
}

/// A blob already present (stored by an earlier build with identical output) stays as it is.
async fn insert_blob(conn: &mut SqliteConnection, blob: &InlineBlob) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO inline_blobs (digest, data) VALUES (?, ?)")
        .bind(blob.digest.to_string())
        .bind(blob.bytes.as_slice())
        .execute(conn)
        .await
        .map(drop)
}

async fn insert_events(
    conn: &mut SqliteConnection,
    rows: &[(Seq, &Event, &WireEvent)],
    recorded_at: i64,
) -> sqlx::Result<()> {
    let mut rest = rows;
    while !rest.is_empty() {
        let take = chunk_len(rest.len());
        let (chunk, tail) = rest.split_at(take);
        let sql = insert_sql(take);
        let mut query = sqlx::query(&sql);
        for (seq, event, wire) in chunk {
            query = query
                .bind(seq_to_sql(*seq))
                .bind(recorded_at)
                .bind(wire.kind.as_str())
                .bind(i64::from(wire.schema_version))
                .bind(event.build().map(|b| b.0 as i64))
                .bind(wire.body.as_str());
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// The largest power of two not above `remaining`, capped at [`MAX_ROWS_PER_INSERT`].
fn chunk_len(remaining: usize) -> usize {
    if remaining >= MAX_ROWS_PER_INSERT {
        MAX_ROWS_PER_INSERT
    } else {
        1 << (usize::BITS - 1 - remaining.leading_zeros())
    }
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (seq, recorded_at_ms, kind, schema_version, build_id, body) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?)");
    }
    sql
}

impl StoreError {
    pub(crate) fn database(path: &Path, source: sqlx::Error) -> Self {
        // SQLITE_FULL (13): the disk or quota is full. An I/O error (SQLITE_IOERR, 10, in
        // the low byte: say 4874, the shared-memory index could not grow) on a file system
        // with no space left is the same trouble; SQLite does not pass the errno on.
        let full = source
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 13 || (code & 0xff == 10 && no_space_left(path)));
        if full {
            StoreError::DiskFull {
                op: "write",
                path: path.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::StorageFull),
            }
        } else {
            StoreError::Database {
                path: path.to_owned(),
                source,
            }
        }
    }

    /// Projection code does not know the database path; fill it in.
    fn with_path(self, path: &Path) -> Self {
        match self {
            StoreError::Database { source, .. } => StoreError::database(path, source),
            StoreError::DiskFull {
                op,
                path: empty,
                source,
            } if empty.as_os_str().is_empty() => StoreError::DiskFull {
                op,
                path: path.to_owned(),
                source,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_len;

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything() {
        for total in 1..2000 {
            let mut left = total;
            while left > 0 {
                let take = chunk_len(left);
                assert!(take.is_power_of_two() && take <= left && take <= 256);
                left -= take;
            }
        }
    }
}
