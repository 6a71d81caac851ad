//! Releases of product streams and their end-of-life notices.

use sqlx::sqlite::SqliteConnection;

use super::{db, id, json};
use crate::error::Result;
use crate::event::Event;
use factory_types::Seq;

pub(super) async fn apply(
    conn: &mut SqliteConnection,
    seq: Seq,
    at: i64,
    event: &Event,
) -> Result<()> {
    match event {
        Event::ReleaseMade {
            product,
            stream,
            channel,
            number,
            candidate,
            contents,
            compose_id,
            compose_path,
            by,
            why,
        } => {
            sqlx::query(
                "INSERT INTO releases (product, stream, number, channel, candidate, contents, \
                 compose_id, compose_path, by_text, why, released_at_ms, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .bind(product)
            .bind(stream)
            .bind(i64::try_from(*number).unwrap_or(i64::MAX))
            .bind(channel)
            .bind(candidate.to_string())
            .bind(json(contents))
            .bind(compose_id)
            .bind(compose_path)
            .bind(by)
            .bind(why)
            .bind(at)
            .bind(id(seq))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        Event::StreamEol {
            product,
            stream,
            notice,
            ..
        } => {
            sqlx::query(
                "INSERT OR IGNORE INTO stream_notices (product, stream, notice, seq) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(product)
            .bind(stream)
            .bind(notice)
            .bind(id(seq))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        _ => {}
    }
    Ok(())
}
