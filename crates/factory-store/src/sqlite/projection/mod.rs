//! Maintains the projection tables from events. `apply_all` runs inside the append transaction,
//! so the projections never lag behind the log; `rebuild` replays the whole log into empty
//! tables. Only data stored in the event row is used (never the clock), so a replay writes
//! exactly what the original appends wrote. The token table is not a projection (its hashes
//! are in no event): `rebuild` leaves it alone.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::{db_err_unnamed as db, decode_event_row, read_last_seq};
use crate::error::{Result, StoreError};
use crate::event::Event;
use factory_types::{BuildId, Seq, WaveId};

mod batched;
mod releases;
use batched::Segment;

const PROJECTION_TABLES: &[&str] = &[
    "builds",
    "waves",
    "artifacts",
    "components",
    "webhook_deliveries",
    "releases",
    "stream_notices",
];
const REPLAY_PAGE: i64 = 4096;

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("projection values serialize to JSON")
}

fn id(seq: Seq) -> i64 {
    super::seq_to_sql(seq)
}

fn build_id(build: BuildId) -> i64 {
    i64::try_from(build.0).unwrap_or(i64::MAX)
}

fn wave_id(wave: WaveId) -> i64 {
    i64::try_from(wave.0).unwrap_or(i64::MAX)
}

/// Applies events, in order, to the projections. Rejects events that contradict them
/// (unknown build, transition out of a final state) with [`StoreError::InvalidEvent`].
///
/// The frequent kinds go into a [`Segment`], applied a kind at a time (see `batched`); the
/// others are applied one by one, in order with the segments around them. Log chunks only
/// add to a build's log size, a sum no other event reads: they are added up per build and
/// written with one statement at the end.
pub(super) async fn apply_all<'e>(
    conn: &mut SqliteConnection,
    events: &[(Seq, i64, &'e Event)],
) -> Result<()> {
    let mut log_bytes: BTreeMap<BuildId, (i64, &'e Event)> = BTreeMap::new();
    let mut segment = Segment::default();
    for &(seq, at, event) in events {
        if let Event::BuildLog { build, chunk, .. } = event {
            log_bytes.entry(*build).or_insert((0, event)).0 += chunk.len() as i64;
            continue;
        }
        if segment.take((seq, at, event)) {
            continue;
        }
        segment.apply(conn).await?;
        if !segment.take((seq, at, event)) {
            apply_one(conn, seq, at, event).await?;
        }
    }
    segment.apply(conn).await?;
    add_all_log_bytes(conn, &log_bytes).await
}

/// One statement for all builds of a group (one per build costs more than the rest of a
/// group's work when many builds log at once).
async fn add_all_log_bytes(
    conn: &mut SqliteConnection,
    log_bytes: &BTreeMap<BuildId, (i64, &Event)>,
) -> Result<()> {
    if log_bytes.is_empty() {
        return Ok(());
    }
    let increments: BTreeMap<String, i64> = log_bytes
        .iter()
        .map(|(build, (bytes, _))| (build.0.to_string(), *bytes))
        .collect();
    let done = sqlx::query(
        "UPDATE builds SET log_bytes = log_bytes + increment.value \
         FROM json_each(?1) AS increment WHERE builds.id = CAST(increment.key AS INTEGER)",
    )
    .bind(json(&increments))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == log_bytes.len() as u64 {
        return Ok(());
    }
    // Some build does not exist: find which one to say so.
    for (build, (_, event)) in log_bytes {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM builds WHERE id = ?")
            .bind(build_id(*build))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(invalid(event, format!("build {build} does not exist")));
        }
    }
    Ok(())
}

/// Logs may still drain after a build was cancelled, so any state accepts them.
async fn add_log_bytes(
    conn: &mut SqliteConnection,
    build: BuildId,
    bytes: i64,
    event: &Event,
) -> Result<()> {
    let done = sqlx::query("UPDATE builds SET log_bytes = log_bytes + ?2 WHERE id = ?1")
        .bind(build_id(build))
        .bind(bytes)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(invalid(event, format!("build {build} does not exist")));
    }
    Ok(())
}

async fn apply_one(conn: &mut SqliteConnection, seq: Seq, at: i64, event: &Event) -> Result<()> {
    match event {
        // Kinds that segments hold have one implementation: a segment of one.
        Event::ChangeDetected { .. }
        | Event::BuildQueued { .. }
        | Event::BuildStarted { .. }
        | Event::BuildSucceeded { .. } => {
            let mut alone = Segment::default();
            alone.take((seq, at, event));
            alone.apply(conn).await
        }
        Event::WavePlanned { .. } | Event::WaveFinished { .. } => {
            apply_wave(conn, seq, at, event).await
        }
        Event::BuildLog { build, chunk, .. } => {
            add_log_bytes(conn, *build, chunk.len() as i64, event).await
        }
        Event::BuildBlocked { .. } | Event::BuildFailed { .. } | Event::BuildCancelled { .. } => {
            apply_end(conn, seq, at, event).await
        }
        Event::BuildReused { .. } | Event::BuildCutOff { .. } => {
            apply_reuse(conn, seq, at, event).await
        }
        Event::ArtifactStored { .. } => apply_artifact(conn, seq, event).await,
        Event::WebhookReceived {
            forge, delivery, ..
        } => {
            // The first event of a delivery owns it; a later one is a redelivery, kept in
            // the log as what happened and changing nothing here.
            sqlx::query(
                "INSERT OR IGNORE INTO webhook_deliveries (forge, delivery, seq) VALUES (?1, ?2, ?3)",
            )
            .bind(forge)
            .bind(delivery)
            .bind(id(seq))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            Ok(())
        }
        // Audit records only: the token table is primary state, written by the same
        // transaction, and a replay must not touch it (it has no hash to write).
        Event::TokenCreated { .. } | Event::TokenRevoked { .. } | Event::AccessDecided { .. } => {
            Ok(())
        }
        // The hooks' cursors are primary state, moved in the transaction of the outcome.
        Event::HookRan { .. } => Ok(()),
        Event::ReleaseMade { .. } | Event::StreamEol { .. } => {
            releases::apply(conn, seq, at, event).await
        }
    }
}

/// A wave planned or finished.
async fn apply_wave(conn: &mut SqliteConnection, seq: Seq, at: i64, event: &Event) -> Result<()> {
    match event {
        Event::WavePlanned {
            trigger,
            affected,
            plan,
        } => {
            sqlx::query(
                "INSERT INTO waves (id, trigger_text, affected, plan, state, planned_at_ms, last_seq) \
                 VALUES (?1, ?2, ?3, ?4, 'planned', ?5, ?1)",
            )
            .bind(id(seq))
            .bind(trigger)
            .bind(json(affected))
            .bind(json(plan))
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        Event::WaveFinished { wave, summary } => {
            let done = sqlx::query(
                "UPDATE waves SET state = 'finished', summary = ?2, finished_at_ms = ?3, last_seq = ?4 \
                 WHERE id = ?1 AND state = 'planned'",
            )
            .bind(wave_id(*wave))
            .bind(summary)
            .bind(at)
            .bind(id(seq))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            if done.rows_affected() == 0 {
                return Err(invalid(
                    event,
                    format!("wave {wave} does not exist or is already finished"),
                ));
            }
        }
        _ => unreachable!("apply_one gives waves only"),
    }
    Ok(())
}

/// A build blocked, failed or cancelled: allowed only from the states that lead there.
async fn apply_end(conn: &mut SqliteConnection, seq: Seq, at: i64, event: &Event) -> Result<()> {
    match event {
        Event::BuildBlocked { build, by, reason } => {
            let sql = "UPDATE builds SET state = 'blocked', detail = ?2, related = ?3, \
                       finished_at_ms = ?4, last_seq = ?5 WHERE id = ?1 AND state = 'scheduled'";
            let query = sqlx::query(sql)
                .bind(build_id(*build))
                .bind(reason)
                .bind(json(by))
                .bind(at)
                .bind(id(seq));
            transition(conn, query, event, *build, "scheduled").await?;
        }
        Event::BuildFailed {
            build,
            reason,
            kind,
        } => {
            let sql = "UPDATE builds SET state = 'failed', failure_kind = ?2, detail = ?3, \
                       finished_at_ms = ?4, last_seq = ?5 \
                       WHERE id = ?1 AND state IN ('scheduled', 'building')";
            let query = sqlx::query(sql)
                .bind(build_id(*build))
                .bind(kind.as_str())
                .bind(reason)
                .bind(at)
                .bind(id(seq));
            transition(conn, query, event, *build, "scheduled or building").await?;
        }
        Event::BuildCancelled { build, reason } => {
            let sql = "UPDATE builds SET state = 'cancelled', detail = ?2, finished_at_ms = ?3, \
                       last_seq = ?4 WHERE id = ?1 AND (state IN ('scheduled', 'building', 'blocked') \
                       OR (state = 'failed' AND failure_kind = 'infrastructure'))";
            let query = sqlx::query(sql)
                .bind(build_id(*build))
                .bind(reason)
                .bind(at)
                .bind(id(seq));
            transition(
                conn,
                query,
                event,
                *build,
                "scheduled, building, blocked or failed for an infrastructure reason",
            )
            .await?;
        }
        _ => unreachable!("apply_one gives the ends of builds only"),
    }
    Ok(())
}

/// A build that did not run: its key's outputs reused, or cut off.
async fn apply_reuse(conn: &mut SqliteConnection, seq: Seq, at: i64, event: &Event) -> Result<()> {
    match event {
        Event::BuildReused { build, from } => {
            let sql = "UPDATE builds SET state = 'reused', related = ?2, finished_at_ms = ?3, \
                       last_seq = ?4, \
                       outputs = (SELECT outputs FROM builds WHERE id = ?5 \
                                  AND state IN ('succeeded', 'reused', 'unchanged')) \
                       WHERE id = ?1 AND state IN ('scheduled', 'building') \
                       AND EXISTS (SELECT 1 FROM builds WHERE id = ?5 \
                                   AND state IN ('succeeded', 'reused', 'unchanged'))";
            let query = sqlx::query(sql)
                .bind(build_id(*build))
                .bind(json(&[*from]))
                .bind(at)
                .bind(id(seq))
                .bind(build_id(*from));
            transition(
                conn,
                query,
                event,
                *build,
                "scheduled or building, reusing a build with usable outputs",
            )
            .await?;
        }
        Event::BuildCutOff {
            build,
            reason,
            previous,
        } => {
            let sql = "UPDATE builds SET state = 'unchanged', detail = ?2, related = ?3, \
                       finished_at_ms = ?4, last_seq = ?5, \
                       outputs = COALESCE((SELECT outputs FROM builds WHERE id = ?6 \
                                  AND state IN ('succeeded', 'reused', 'unchanged')), '[]') \
                       WHERE id = ?1 AND state IN ('scheduled', 'building') \
                       AND (?6 IS NULL OR EXISTS (SELECT 1 FROM builds WHERE id = ?6 \
                                   AND state IN ('succeeded', 'reused', 'unchanged')))";
            let related: Vec<BuildId> = previous.iter().copied().collect();
            let query = sqlx::query(sql)
                .bind(build_id(*build))
                .bind(reason)
                .bind(json(&related))
                .bind(at)
                .bind(id(seq))
                .bind(previous.map(build_id));
            transition(
                conn,
                query,
                event,
                *build,
                "scheduled or building, with a previous build that has usable outputs",
            )
            .await?;
        }
        _ => unreachable!("apply_one gives reuses and cutoffs only"),
    }
    Ok(())
}

/// A blob named as an artifact (of a build that exists, if it names one).
async fn apply_artifact(conn: &mut SqliteConnection, seq: Seq, event: &Event) -> Result<()> {
    let Event::ArtifactStored {
        digest,
        name,
        kind,
        size,
        build,
    } = event
    else {
        unreachable!("apply_one gives artifacts only")
    };
    let build = build.map(build_id);
    let done = sqlx::query(
        "INSERT INTO artifacts (id, digest, name, kind, size, build) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE ?6 IS NULL OR EXISTS (SELECT 1 FROM builds WHERE id = ?6)",
    )
    .bind(id(seq))
    .bind(digest.to_string())
    .bind(name)
    .bind(kind)
    .bind(i64::try_from(*size).unwrap_or(i64::MAX))
    .bind(build)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(invalid(
            event,
            format!("build b{} does not exist", build.unwrap_or_default()),
        ));
    }
    Ok(())
}

fn invalid(event: &Event, reason: String) -> StoreError {
    StoreError::InvalidEvent {
        kind: event.kind(),
        reason,
    }
}

/// Runs a guarded state change; when the guard matched nothing, says why.
async fn transition<'q>(
    conn: &mut SqliteConnection,
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    event: &Event,
    build: BuildId,
    allowed: &str,
) -> Result<()> {
    let done = query.execute(&mut *conn).await.map_err(db)?;
    if done.rows_affected() > 0 {
        return Ok(());
    }
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM builds WHERE id = ?")
        .bind(build_id(build))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    Err(invalid(event, refusal(build, state, allowed)))
}

/// Why a build's state could not change: it does not exist, or its state (`state`) is not
/// one of those the change is `allowed` from.
fn refusal(build: BuildId, state: Option<String>, allowed: &str) -> String {
    match state {
        None => format!("build {build} does not exist"),
        Some(state) => format!("build {build} is {state}; allowed only from {allowed}"),
    }
}

/// Empties the projections and replays every event into them, in one transaction.
pub(super) async fn rebuild(conn: &mut SqliteConnection) -> Result<Seq> {
    use sqlx::Connection;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    for table in PROJECTION_TABLES {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    let last = read_last_seq(&mut tx).await.map_err(db)?;
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, recorded_at_ms, kind, schema_version, body FROM events \
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(REPLAY_PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let Some(last_row) = rows.last() else { break };
        after = last_row.get(0);
        let recorded = rows
            .iter()
            .map(decode_event_row)
            .collect::<Result<Vec<_>>>()?;
        let events: Vec<(Seq, i64, &Event)> = recorded
            .iter()
            .map(|r| (r.seq, r.recorded_at_ms, &r.event))
            .collect();
        apply_all(&mut tx, &events).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(last)
}
