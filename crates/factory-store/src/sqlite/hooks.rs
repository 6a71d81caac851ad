//! The hooks' cursors in the SQLite store: the `hook_cursors` table (see
//! `0006_hook_cursors.sql`), moved by the writer task in the transaction that appends the
//! hook's outcome, and read through the pool.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

use super::{
    Alone, Batch, SqliteStore, Writer, WriterRequest, db_err_unnamed as db, seq_to_sql, write_group,
};
use crate::error::Result;
use crate::event::{Event, WireEvent};
use factory_types::Seq;

/// A change of a hook's cursor, as the writer receives it.
pub(super) enum HookWrite {
    Advance {
        name: String,
        to: Seq,
        events: Vec<(Event, WireEvent)>,
        reply: oneshot::Sender<Result<Vec<Seq>>>,
    },
    Forget {
        name: String,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl SqliteStore {
    pub(super) async fn hook_cursor(&self, name: &str) -> Result<Option<Seq>> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM hook_cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        Ok(seq.map(|s| Seq(s as u64)))
    }

    pub(super) async fn hook_cursors(&self) -> Result<Vec<(String, Seq)>> {
        let rows = sqlx::query("SELECT name, seq FROM hook_cursors ORDER BY name")
            .fetch_all(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        Ok(rows
            .iter()
            .map(|row| (row.get("name"), Seq(row.get::<i64, _>("seq") as u64)))
            .collect())
    }

    pub(super) async fn advance_hook(
        &self,
        name: &str,
        to: Seq,
        events: Vec<Event>,
    ) -> Result<Vec<Seq>> {
        // Encoded here, in the caller's task, as appends are.
        let events = events
            .into_iter()
            .map(|event| {
                let wire = WireEvent::encode(&event);
                (event, wire)
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Hook(HookWrite::Advance {
            name: name.to_owned(),
            to,
            events,
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }

    pub(super) async fn forget_hook(&self, name: &str) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Hook(HookWrite::Forget {
            name: name.to_owned(),
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }
}

impl Writer {
    /// Carries out a cursor change in one write transaction (with the events that go with
    /// it) and answers once it is durable, or failed leaving nothing behind.
    pub(super) async fn write_hook(&mut self, write: HookWrite) {
        let at = self.clock.wall_ms();
        match write {
            HookWrite::Advance {
                name,
                to,
                events,
                reply,
            } => {
                let batch = Batch {
                    events,
                    blobs: Vec::new(),
                };
                let result = self
                    .hook_transaction(async |conn| advance_on(conn, &name, to, &batch, at).await)
                    .await;
                if let Some(last) = result.as_ref().ok().and_then(|seqs| seqs.last()) {
                    self.commits.send_replace(*last);
                }
                let _ = reply.send(result);
            }
            HookWrite::Forget { name, reply } => {
                let result = self
                    .hook_transaction(async |conn| {
                        sqlx::query("DELETE FROM hook_cursors WHERE name = ?")
                            .bind(&name)
                            .execute(conn)
                            .await
                            .map(drop)
                            .map_err(db)
                    })
                    .await;
                let _ = reply.send(result);
            }
        }
    }

    /// [`Writer::in_write_transaction`]; after a failure, as after a failed commit of
    /// appends, a connection left inside a transaction is replaced.
    async fn hook_transaction<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T>,
    ) -> Result<T> {
        let result = self.in_write_transaction(work).await;
        if result.is_err() && self.conn.is_in_transaction() {
            self.reconnect().await;
        }
        result
    }
}

/// Appends the events (numbered after the last one, projected as every append is) and moves
/// the cursor forward, inside the caller's transaction.
async fn advance_on(
    conn: &mut SqliteConnection,
    name: &str,
    to: Seq,
    batch: &Batch,
    at: i64,
) -> Result<Vec<Seq>> {
    let seqs = if batch.events.is_empty() {
        Vec::new()
    } else {
        write_group(&mut *conn, &[batch], at).await?.remove(0)
    };
    sqlx::query(
        "INSERT INTO hook_cursors (name, seq, updated_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET seq = MAX(seq, excluded.seq), \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(name)
    .bind(seq_to_sql(to))
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(seqs)
}
