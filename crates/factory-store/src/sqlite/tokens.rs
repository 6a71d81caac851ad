//! The API tokens of the SQLite store: the `tokens` table, written by the writer task (one
//! write transaction per change, with its audit event) and read through the pool.
//!
//! The table is primary state, not a projection (see `0004_tokens.sql`): nothing here is
//! replayed from the log, and a rebuild of the projections does not touch it.

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

use super::{Alone, Batch, SqliteStore, Writer, WriterRequest, db_err_unnamed as db, write_group};
use crate::error::{Result, StoreError};
use crate::event::{Event, WireEvent};
use crate::records::{Scope, TokenRecord};
use crate::tokens::check_new_token;
use factory_types::{Digest, Seq};

const TOKEN_COLUMNS: &str = "id, name, scope, owners, created_at_ms, revoked_at_ms";

/// A change of the tokens, as the writer receives it.
pub(super) enum TokenWrite {
    Create {
        name: String,
        scope: Scope,
        owners: Vec<String>,
        hash: Digest,
        reply: oneshot::Sender<Result<TokenRecord>>,
    },
    Revoke {
        name: String,
        reply: oneshot::Sender<Result<Option<TokenRecord>>>,
    },
}

/// The requests, from the caller's side: checked here, written by the writer.
impl SqliteStore {
    pub(super) async fn create_token(
        &self,
        name: &str,
        scope: Scope,
        owners: &[String],
        hash: &Digest,
    ) -> Result<TokenRecord> {
        check_new_token(name, owners)?;
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Token(TokenWrite::Create {
            name: name.to_owned(),
            scope,
            owners: owners.to_vec(),
            hash: *hash,
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }

    pub(super) async fn revoke_token(&self, name: &str) -> Result<Option<TokenRecord>> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterRequest::Alone(Alone::Token(TokenWrite::Revoke {
            name: name.to_owned(),
            reply,
        })))?;
        answer.await.map_err(|_| self.stopped())?
    }

    pub(super) async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name, id"
        ))
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        rows.iter().map(token_from_row).collect()
    }

    pub(super) async fn token_by_hash(&self, hash: &Digest) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ? AND revoked_at_ms IS NULL"
        ))
        .bind(hash.hex())
        .fetch_optional(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        row.as_ref().map(token_from_row).transpose()
    }
}

impl Writer {
    /// Carries out a token change in one write transaction, its audit event included, and
    /// answers once it is durable (or was refused, leaving nothing behind).
    pub(super) async fn write_token(&mut self, write: TokenWrite) {
        let at = self.clock.wall_ms();
        match write {
            TokenWrite::Create {
                name,
                scope,
                owners,
                hash,
                reply,
            } => {
                let new = NewToken {
                    name: &name,
                    scope,
                    owners: &owners,
                    hash: &hash,
                };
                let result = self
                    .token_transaction(async |conn| create_on(conn, &new, at).await)
                    .await;
                let _ = reply.send(result);
            }
            TokenWrite::Revoke { name, reply } => {
                let result = self
                    .token_transaction(async |conn| revoke_on(conn, &name, at).await)
                    .await;
                let _ = reply.send(result);
            }
        }
    }

    /// [`Writer::in_write_transaction`] for a change that appends one audit event (or none,
    /// when it changed nothing): followers are told of the event once it is committed.
    async fn token_transaction<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<(T, Option<Seq>)>,
    ) -> Result<T> {
        let result = self.in_write_transaction(work).await;
        if result.is_err() && self.conn.is_in_transaction() {
            // As after a failed commit of appends: a fresh connection is the sure way back.
            self.reconnect().await;
        }
        let (value, seq) = result?;
        if let Some(seq) = seq {
            self.commits.send_replace(seq);
        }
        Ok(value)
    }
}

struct NewToken<'a> {
    name: &'a str,
    scope: Scope,
    owners: &'a [String],
    hash: &'a Digest,
}

/// Inserts the token and its `token_created` event, inside the caller's write transaction
/// (which holds the write lock, so the checks cannot be overtaken by another process).
async fn create_on(
    conn: &mut SqliteConnection,
    new: &NewToken<'_>,
    at: i64,
) -> Result<(TokenRecord, Option<Seq>)> {
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT id FROM tokens WHERE name = ? AND revoked_at_ms IS NULL")
            .bind(new.name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    if taken.is_some() {
        return Err(StoreError::TokenExists {
            name: new.name.to_owned(),
        });
    }
    let issued: Option<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE hash = ?")
        .bind(new.hash.hex())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if let Some(existing) = issued {
        return Err(StoreError::TokenReused {
            name: new.name.to_owned(),
            existing,
        });
    }
    let owners = serde_json::to_string(new.owners).expect("strings serialize to JSON");
    let row = sqlx::query(&format!(
        "INSERT INTO tokens (name, scope, owners, hash, created_at_ms) VALUES (?, ?, ?, ?, ?) \
         RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(new.name)
    .bind(new.scope.as_str())
    .bind(owners)
    .bind(new.hash.hex())
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let record = token_from_row(&row)?;
    let seq = append_audit(
        conn,
        Event::TokenCreated {
            name: record.name.clone(),
            scope: record.scope.as_str().to_owned(),
            owners: record.owners.clone(),
        },
        at,
    )
    .await?;
    Ok((record, Some(seq)))
}

/// Revokes the active token of `name` and appends its `token_revoked` event; nothing at all
/// when there is no such token.
async fn revoke_on(
    conn: &mut SqliteConnection,
    name: &str,
    at: i64,
) -> Result<(Option<TokenRecord>, Option<Seq>)> {
    let row = sqlx::query(&format!(
        "UPDATE tokens SET revoked_at_ms = ?2 WHERE name = ?1 AND revoked_at_ms IS NULL \
         RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(name)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        return Ok((None, None));
    };
    let record = token_from_row(&row)?;
    let event = Event::TokenRevoked {
        name: record.name.clone(),
    };
    let seq = append_audit(conn, event, at).await?;
    Ok((Some(record), Some(seq)))
}

/// Appends one event the way every append does (numbered after the last one, projected),
/// in the caller's transaction.
async fn append_audit(conn: &mut SqliteConnection, event: Event, at: i64) -> Result<Seq> {
    let wire = WireEvent::encode(&event);
    let batch = Batch {
        events: vec![(event, wire)],
        blobs: Vec::new(),
        cursor: None,
    };
    let seqs = write_group(conn, &[&batch], at).await?;
    Ok(seqs[0][0])
}

fn token_from_row(row: &SqliteRow) -> Result<TokenRecord> {
    let id: i64 = row.get("id");
    let corrupt = |reason: String| StoreError::CorruptToken { id, reason };
    let scope: String = row.get("scope");
    let owners: String = row.get("owners");
    Ok(TokenRecord {
        name: row.get("name"),
        scope: Scope::parse(&scope).ok_or_else(|| corrupt(format!("unknown scope `{scope}`")))?,
        owners: serde_json::from_str(&owners).map_err(|e| corrupt(e.to_string()))?,
        created_at_ms: row.get("created_at_ms"),
        revoked_at_ms: row.get("revoked_at_ms"),
    })
}
