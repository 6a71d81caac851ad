//! The release queries (`Releases`), beside their SQL.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::error::{Result, StoreError};
use crate::records::ReleaseRecord;
use factory_types::Seq;

fn corrupt(seq: i64, reason: impl ToString) -> StoreError {
    StoreError::CorruptProjection {
        table: "releases",
        id: seq.to_string(),
        reason: reason.to_string(),
    }
}

fn release_from_row(row: &SqliteRow) -> Result<ReleaseRecord> {
    let seq: i64 = row.get("seq");
    let candidate: String = row.get("candidate");
    let contents: String = row.get("contents");
    Ok(ReleaseRecord {
        product: row.get("product"),
        stream: row.get("stream"),
        number: row.get::<i64, _>("number") as u64,
        channel: row.get("channel"),
        candidate: candidate.parse().map_err(|e| corrupt(seq, e))?,
        contents: serde_json::from_str(&contents).map_err(|e| corrupt(seq, e))?,
        compose_id: row.get("compose_id"),
        compose_path: row.get("compose_path"),
        by: row.get("by_text"),
        why: row.get("why"),
        released_at_ms: row.get("released_at_ms"),
        seq: Seq(seq as u64),
    })
}

impl SqliteStore {
    /// A stream's releases oldest first, or (without a stream) the newest of all first.
    pub(super) async fn releases_where(
        &self,
        stream: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<ReleaseRecord>> {
        let rows = match stream {
            Some((product, stream)) => sqlx::query(
                "SELECT * FROM releases WHERE product = ?1 AND stream = ?2 ORDER BY number LIMIT ?3",
            )
            .bind(product)
            .bind(stream)
            .bind(i64::from(limit)),
            None => sqlx::query("SELECT * FROM releases ORDER BY seq DESC LIMIT ?1")
                .bind(i64::from(limit)),
        }
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        rows.iter().map(release_from_row).collect()
    }

    pub(super) async fn stream_notices(&self, product: &str, stream: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT notice FROM stream_notices WHERE product = ?1 AND stream = ?2 ORDER BY seq",
        )
        .bind(product)
        .bind(stream)
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))
    }
}
