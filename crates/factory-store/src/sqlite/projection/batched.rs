//! The frequent events of a group applied a kind at a time: one statement for all the
//! changes, one for all the builds queued, one for all those started and one for all those
//! that succeeded. One by one, each cost a statement, and every statement is a round trip
//! to the database's worker thread: most of the writer's time when builds are short.
//!
//! Applying by kind leaves the projections as applying in order would as long as no build
//! or component comes back with a kind that is not later in [`Phase`] order. A [`Segment`]
//! takes events while that holds; the caller applies it before an event it refuses.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::sqlite::SqliteConnection;

use super::{build_id, db, id, invalid, json, refusal, wave_id};
use crate::error::Result;
use crate::event::Event;
use factory_types::{BuildId, Seq};

/// The order in which a segment applies the kinds it holds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Changed,
    Queued,
    Started,
    Succeeded,
}

/// What an event's projection touches.
#[derive(Hash, PartialEq, Eq)]
enum Subject<'e> {
    Component(&'e str),
    Build(BuildId),
}

type Row<'e> = (Seq, i64, &'e Event);

fn phase_of(seq: Seq, event: &Event) -> Option<(Subject<'_>, Phase)> {
    match event {
        Event::ChangeDetected { component, .. } => {
            Some((Subject::Component(component), Phase::Changed))
        }
        // A queued build's number is its event's sequence number.
        Event::BuildQueued { .. } => Some((Subject::Build(BuildId(seq.0)), Phase::Queued)),
        Event::BuildStarted { build, .. } => Some((Subject::Build(*build), Phase::Started)),
        Event::BuildSucceeded { build, .. } => Some((Subject::Build(*build), Phase::Succeeded)),
        _ => None,
    }
}

#[derive(Default)]
pub(super) struct Segment<'e> {
    changed: Vec<Row<'e>>,
    queued: Vec<Row<'e>>,
    started: Vec<Row<'e>>,
    succeeded: Vec<Row<'e>>,
    latest: HashMap<Subject<'e>, Phase>,
}

impl<'e> Segment<'e> {
    /// Takes the event unless it is of a kind segments do not hold, or its subject is
    /// already here with the same or a later kind.
    pub(super) fn take(&mut self, row: Row<'e>) -> bool {
        let Some((subject, phase)) = phase_of(row.0, row.2) else {
            return false;
        };
        if self.latest.get(&subject).is_some_and(|&seen| seen >= phase) {
            return false;
        }
        self.latest.insert(subject, phase);
        let rows = match phase {
            Phase::Changed => &mut self.changed,
            Phase::Queued => &mut self.queued,
            Phase::Started => &mut self.started,
            Phase::Succeeded => &mut self.succeeded,
        };
        rows.push(row);
        true
    }

    /// Applies what the segment holds, kind after kind, and empties it.
    pub(super) async fn apply(&mut self, conn: &mut SqliteConnection) -> Result<()> {
        let segment = std::mem::take(self);
        apply_changes(conn, &segment.changed).await?;
        apply_queued(conn, &segment.queued).await?;
        apply_transition(conn, &segment.started, &STARTED).await?;
        apply_transition(conn, &segment.succeeded, &SUCCEEDED).await
    }
}

#[derive(Serialize)]
struct ChangedRow<'e> {
    seq: i64,
    component: &'e str,
    reason: &'e str,
    revision: Option<&'e str>,
}

/// The rows `to_row` makes of a kind's events, as one JSON array; `None` if there are none.
fn json_rows<'e, T: Serialize>(
    rows: &[Row<'e>],
    to_row: impl Fn(Seq, i64, &'e Event) -> Option<T>,
) -> Option<String> {
    let values: Vec<T> = rows
        .iter()
        .filter_map(|&(seq, at, event)| to_row(seq, at, event))
        .collect();
    (!values.is_empty()).then(|| json(&values))
}

async fn apply_changes(conn: &mut SqliteConnection, rows: &[Row<'_>]) -> Result<()> {
    let values = json_rows(rows, |seq, _, event| match event {
        Event::ChangeDetected {
            component,
            reason,
            revision,
        } => Some(ChangedRow {
            seq: id(seq),
            component,
            reason,
            revision: revision.as_deref(),
        }),
        _ => None,
    });
    let Some(values) = values else {
        return Ok(());
    };
    // `WHERE true` keeps SQLite from reading `ON CONFLICT` as the join's `ON`.
    sqlx::query(
        "INSERT INTO components (name, revision, last_change_reason, last_change_seq) \
         SELECT c.value->>'component', c.value->>'revision', c.value->>'reason', c.value->>'seq' \
         FROM json_each(?1) AS c WHERE true \
         ON CONFLICT (name) DO UPDATE SET revision = COALESCE(excluded.revision, revision), \
         last_change_reason = excluded.last_change_reason, \
         last_change_seq = excluded.last_change_seq",
    )
    .bind(values)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[derive(Serialize)]
struct QueuedRow<'e> {
    id: i64,
    wave: Option<i64>,
    component: &'e str,
    /// Empty for none: the column predates keys being optional.
    key: String,
    reason: &'e str,
    /// Already JSON text: stored as it is.
    inputs: String,
    at: i64,
}

/// A build is queued only in a wave that exists (or in none).
async fn apply_queued(conn: &mut SqliteConnection, rows: &[Row<'_>]) -> Result<()> {
    let values = json_rows(rows, |seq, at, event| match event {
        Event::BuildQueued {
            wave,
            component,
            key,
            reason,
            inputs,
        } => Some(QueuedRow {
            id: id(seq),
            wave: wave.map(wave_id),
            component,
            key: key.map(|k| k.hex()).unwrap_or_default(),
            reason,
            inputs: json(inputs),
            at,
        }),
        _ => None,
    });
    let Some(values) = values else {
        return Ok(());
    };
    let done = sqlx::query(
        "INSERT INTO builds (id, wave, component, build_key, state, reason, inputs, outputs, \
         attempt, log_bytes, queued_at_ms, last_seq) \
         SELECT q.value->>'id', q.value->>'wave', q.value->>'component', q.value->>'key', \
         'scheduled', q.value->>'reason', q.value->>'inputs', '[]', 0, 0, q.value->>'at', \
         q.value->>'id' \
         FROM json_each(?1) AS q \
         WHERE q.value->>'wave' IS NULL \
         OR EXISTS (SELECT 1 FROM waves WHERE id = q.value->>'wave')",
    )
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == rows.len() as u64 {
        return Ok(());
    }
    // Some wave does not exist: say which build named it.
    let first_missing: Option<i64> = sqlx::query_scalar(
        "SELECT q.key FROM json_each(?1) AS q \
         WHERE NOT EXISTS (SELECT 1 FROM builds WHERE id = q.value->>'id') \
         ORDER BY q.key LIMIT 1",
    )
    .bind(&values)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let (_, _, event) = rows[row_index(first_missing, rows.len())];
    let wave = match event {
        Event::BuildQueued { wave, .. } => wave.map(wave_id),
        _ => None,
    };
    Err(invalid(
        event,
        format!("wave w{} does not exist", wave.unwrap_or_default()),
    ))
}

/// A guarded change of state, for many builds at once.
struct Transition {
    /// Sets the new state from `s.value` (fields `seq`, `build`, `at` and `detail`) on the
    /// builds whose state allows it.
    sql: &'static str,
    /// The states it is allowed from, for the refusal.
    allowed: &'static str,
    /// What the event adds to its row: `detail`.
    detail: fn(&Event) -> Option<serde_json::Value>,
}

const STARTED: Transition = Transition {
    // A build may start again after an infrastructure failure (retry) or after a crash
    // interrupted it while building. The `+` keeps SQLite from scanning builds by state
    // instead of looking up each one by number.
    sql: "UPDATE builds SET state = 'building', attempt = s.value->>'detail', \
          started_at_ms = s.value->>'at', failure_kind = NULL, detail = NULL, \
          finished_at_ms = NULL, last_seq = s.value->>'seq' \
          FROM json_each(?1) AS s \
          WHERE builds.id = s.value->>'build' AND (+builds.state IN ('scheduled', 'building') \
          OR (+builds.state = 'failed' AND builds.failure_kind = 'infrastructure'))",
    allowed: "scheduled, building or failed for an infrastructure reason",
    detail: |event| match event {
        Event::BuildStarted { attempt, .. } => Some((*attempt).into()),
        _ => None,
    },
};

const SUCCEEDED: Transition = Transition {
    sql: "UPDATE builds SET state = 'succeeded', outputs = s.value->>'detail', \
          finished_at_ms = s.value->>'at', last_seq = s.value->>'seq' \
          FROM json_each(?1) AS s \
          WHERE builds.id = s.value->>'build' AND +builds.state IN ('scheduled', 'building')",
    allowed: "scheduled or building",
    detail: |event| match event {
        Event::BuildSucceeded { outputs, .. } => Some(json(outputs).into()),
        _ => None,
    },
};

#[derive(Serialize)]
struct TransitionRow {
    seq: i64,
    build: i64,
    at: i64,
    detail: Option<serde_json::Value>,
}

async fn apply_transition(
    conn: &mut SqliteConnection,
    rows: &[Row<'_>],
    transition: &Transition,
) -> Result<()> {
    let values = json_rows(rows, |seq, at, event| {
        Some(TransitionRow {
            seq: id(seq),
            build: event.build().map_or(0, build_id),
            at,
            detail: (transition.detail)(event),
        })
    });
    let Some(values) = values else {
        return Ok(());
    };
    let done = sqlx::query(transition.sql)
        .bind(&values)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == rows.len() as u64 {
        return Ok(());
    }
    // The first build the guard refused is the first one its event did not update.
    let refused: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT s.key, b.state FROM json_each(?1) AS s \
         LEFT JOIN builds AS b ON b.id = s.value->>'build' \
         WHERE b.last_seq IS NOT s.value->>'seq' ORDER BY s.key LIMIT 1",
    )
    .bind(&values)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let (index, state) = refused.unzip();
    let (_, _, event) = rows[row_index(index, rows.len())];
    let build = event.build().unwrap_or(BuildId(0));
    Err(invalid(
        event,
        refusal(build, state.flatten(), transition.allowed),
    ))
}

/// The row a diagnosis named; the first one if it named none (it always names one when
/// a statement left rows out, unless the database changed under the transaction).
fn row_index(index: Option<i64>, rows: usize) -> usize {
    index
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(0)
        .min(rows.saturating_sub(1))
}
