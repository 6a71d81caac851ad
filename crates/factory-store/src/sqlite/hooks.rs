//! The hooks' cursors in the SQLite store: the `hook_cursors` table (see
//! `0006_hook_cursors.sql`), read through the pool. A cursor moves with the events of its
//! hook's outcome as one append: the writer commits it in the group it joins (a hook's
//! records share the engine's commits and their fsync), in the same transaction as those
//! events, so one is never durable without the other.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

use super::{Alone, Batch, SqliteStore, Writer, WriterRequest, db_err_unnamed as db, seq_to_sql};
use crate::error::Result;
use crate::event::{Event, WireEvent};
use factory_types::Seq;

/// A hook forgotten, as the writer receives it (moves go as appends).
pub(super) struct Forget {
    name: String,
    reply: oneshot::Sender<Result<()>>,
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
        self.send(WriterRequest::Append {
            batch: Batch {
                events,
                blobs: Vec::new(),
                cursor: Some((name.to_owned(), to)),
            },
            reply,
            // A hook is in no hurry: its outcome may wait a moment for company.
            lazy: true,
        })?;
        answer.await.map_err(|_| self.stopped())?
    }

    pub(super) async fn forget_hook(&self, name: &str) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Hook(Forget {
            name: name.to_owned(),
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }
}

impl Writer {
    /// Forgets a hook's cursor in a transaction of its own.
    pub(super) async fn forget_hook(&mut self, forget: Forget) {
        let result = self
            .in_write_transaction(async |conn| {
                sqlx::query("DELETE FROM hook_cursors WHERE name = ?")
                    .bind(&forget.name)
                    .execute(conn)
                    .await
                    .map(drop)
                    .map_err(db)
            })
            .await;
        if result.is_err() && self.conn.is_in_transaction() {
            // As after a failed commit of appends: a fresh connection is the sure way back.
            self.reconnect().await;
        }
        let _ = forget.reply.send(result);
    }
}

/// Moves hook `name`'s cursor forward to `to` (never back), inside the caller's
/// transaction: the one that appends the events it goes with.
pub(super) async fn move_cursor(
    conn: &mut SqliteConnection,
    name: &str,
    to: Seq,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hook_cursors (name, seq, updated_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET seq = MAX(seq, excluded.seq), \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(name)
    .bind(seq_to_sql(to))
    .bind(at)
    .execute(conn)
    .await
    .map(drop)
    .map_err(db)
}
