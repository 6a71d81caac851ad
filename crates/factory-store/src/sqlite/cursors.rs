//! The durable cursors and the store's identity in SQLite. A cursor is written by the writer
//! task like everything else (one writing connection), in a transaction of its own after the
//! appends sent before it: a reader sets its cursor a few times a second at most, so the
//! extra commit is small beside the groups of events it follows.

use sqlx::sqlite::SqliteConnection;
use tokio::sync::oneshot;

use super::{Alone, SqliteStore, Writer, WriterRequest, db_err_unnamed as db, seq_to_sql};
use crate::cursors::check_cursor_name;
use crate::error::{Result, StoreError};
use factory_types::Seq;

/// A cursor's new position, as the writer receives it.
pub(super) struct CursorWrite {
    pub(super) name: String,
    pub(super) seq: Seq,
    pub(super) reply: oneshot::Sender<Result<()>>,
}

impl SqliteStore {
    pub(super) async fn cursor(&self, name: &str) -> Result<Seq> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        Ok(Seq(seq.unwrap_or(0).max(0) as u64))
    }

    pub(super) async fn set_cursor(&self, name: &str, seq: Seq) -> Result<()> {
        check_cursor_name(name)?;
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Cursor(CursorWrite {
            name: name.to_owned(),
            seq,
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }

    pub(super) async fn store_identity(&self) -> Result<[u8; 16]> {
        let hex_id: Option<String> =
            sqlx::query_scalar("SELECT id FROM store_identity WHERE only = 1")
                .fetch_optional(self.readers())
                .await
                .map_err(|e| self.db_err(e))?;
        let corrupt = |reason: &str| StoreError::CorruptIdentity {
            reason: reason.to_owned(),
        };
        let hex_id = hex_id.ok_or_else(|| corrupt("no row in store_identity"))?;
        let bytes = hex::decode(&hex_id).map_err(|_| corrupt("not hex digits"))?;
        bytes
            .try_into()
            .map_err(|_| corrupt("not 16 bytes (32 hex digits)"))
    }
}

impl Writer {
    pub(super) async fn write_cursor(&mut self, write: CursorWrite) {
        let at = self.clock.wall_ms();
        let CursorWrite { name, seq, reply } = write;
        let result = self
            .in_write_transaction(async |conn| upsert(conn, &name, seq, at).await)
            .await;
        if result.is_err() && sqlx::Connection::is_in_transaction(&self.conn) {
            self.reconnect().await;
        }
        let _ = reply.send(result);
    }
}

async fn upsert(conn: &mut SqliteConnection, name: &str, seq: Seq, at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO cursors (name, seq, updated_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET seq = ?2, updated_at_ms = ?3",
    )
    .bind(name)
    .bind(seq_to_sql(seq))
    .bind(at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}
