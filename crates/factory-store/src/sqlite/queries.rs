//! Projection queries of the SQLite store: rows are turned into domain records here and
//! nowhere else.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, db_err_unnamed, seq_to_sql};
use crate::cas::GcReport;
use crate::error::{Result, StoreError};
use crate::event::{BuildOutput, Event, FailureKind, WireEvent};
use crate::records::{
    ArtifactRecord, BuildRecord, BuildState, ComponentRecord, LogChunk, WaveRecord, WaveState,
};
use factory_types::{BuildId, BuildKey, Digest, Seq, WaveId};

const BUILD_COLUMNS: &str = "id, wave, component, build_key, state, reason, inputs, outputs, \
    attempt, failure_kind, detail, related, log_bytes, queued_at_ms, started_at_ms, \
    finished_at_ms, last_seq";

const WAVE_COLUMNS: &str =
    "id, trigger_text, affected, plan, state, summary, planned_at_ms, finished_at_ms";

const USABLE: &str = "('succeeded', 'reused', 'unchanged')";

fn corrupt(table: &'static str, id: i64, reason: impl ToString) -> StoreError {
    StoreError::CorruptProjection {
        table,
        id: id.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    id: i64,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(table, id, e))
}

fn build_from_row(row: &SqliteRow) -> Result<BuildRecord> {
    let id: i64 = row.get("id");
    let state: String = row.get("state");
    let failure_kind: Option<String> = row.get("failure_kind");
    let related: Option<String> = row.get("related");
    Ok(BuildRecord {
        id: BuildId(id as u64),
        wave: row.get::<Option<i64>, _>("wave").map(|w| WaveId(w as u64)),
        component: row.get("component"),
        key: key_from_row(row.get("build_key")).map_err(|e| corrupt("builds", id, e))?,
        state: BuildState::parse(&state)
            .ok_or_else(|| corrupt("builds", id, format!("unknown state `{state}`")))?,
        reason: row.get("reason"),
        inputs: parse_json::<BTreeMap<String, String>>("builds", id, row.get("inputs"))?,
        outputs: parse_json::<Vec<BuildOutput>>("builds", id, row.get("outputs"))?,
        attempt: row.get::<i64, _>("attempt") as u32,
        failure_kind: match failure_kind {
            None => None,
            Some(kind) => Some(
                FailureKind::parse(&kind)
                    .ok_or_else(|| corrupt("builds", id, format!("unknown failure `{kind}`")))?,
            ),
        },
        detail: row.get("detail"),
        related: match related {
            None => Vec::new(),
            Some(text) => parse_json("builds", id, &text)?,
        },
        log_bytes: row.get::<i64, _>("log_bytes") as u64,
        queued_at_ms: row.get("queued_at_ms"),
        started_at_ms: row.get("started_at_ms"),
        finished_at_ms: row.get("finished_at_ms"),
        last_seq: Seq(row.get::<i64, _>("last_seq") as u64),
    })
}

/// The row keeps "no key" as an empty string (the column predates keys being optional).
fn key_from_row(text: &str) -> std::result::Result<Option<BuildKey>, factory_types::DigestError> {
    if text.is_empty() {
        return Ok(None);
    }
    BuildKey::parse(text).map(Some)
}

fn wave_from_row(row: &SqliteRow) -> Result<WaveRecord> {
    let id: i64 = row.get("id");
    let state: String = row.get("state");
    Ok(WaveRecord {
        id: WaveId(id as u64),
        trigger: row.get("trigger_text"),
        affected: parse_json("waves", id, row.get("affected"))?,
        plan: parse_json("waves", id, row.get("plan"))?,
        state: match state.as_str() {
            "planned" => WaveState::Planned,
            "finished" => WaveState::Finished,
            other => return Err(corrupt("waves", id, format!("unknown state `{other}`"))),
        },
        summary: row.get("summary"),
        planned_at_ms: row.get("planned_at_ms"),
        finished_at_ms: row.get("finished_at_ms"),
    })
}

fn artifact_from_row(row: &SqliteRow) -> Result<ArtifactRecord> {
    let id: i64 = row.get("id");
    let digest: String = row.get("digest");
    Ok(ArtifactRecord {
        id: Seq(id as u64),
        digest: digest.parse().map_err(|e| corrupt("artifacts", id, e))?,
        name: row.get("name"),
        kind: row.get("kind"),
        size: row.get::<i64, _>("size") as u64,
        build: row
            .get::<Option<i64>, _>("build")
            .map(|b| BuildId(b as u64)),
    })
}

fn sql_id(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqliteStore {
    async fn one_build(&self, sql: &str, bind: impl ToBind) -> Result<Option<BuildRecord>> {
        let query = bind.bind_to(sqlx::query(sql));
        let row = query
            .fetch_optional(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        row.as_ref().map(build_from_row).transpose()
    }

    async fn many_builds(&self, sql: &str, bind: impl ToBind) -> Result<Vec<BuildRecord>> {
        let query = bind.bind_to(sqlx::query(sql));
        let rows = query
            .fetch_all(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        rows.iter().map(build_from_row).collect()
    }

    async fn many_waves(&self, sql: &str) -> Result<Vec<WaveRecord>> {
        let rows = sqlx::query(sql)
            .fetch_all(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        rows.iter().map(wave_from_row).collect()
    }

    /// Every row of every projection table, in primary-key order, as text. Used to prove that
    /// a replay rebuilds identical projections.
    pub(super) async fn dump_projections(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut dump = BTreeMap::new();
        for (table, order) in [
            ("builds", "id"),
            ("waves", "id"),
            ("artifacts", "id"),
            ("components", "name"),
            ("webhook_deliveries", "forge, delivery"),
            ("releases", "product, stream, number"),
            ("stream_notices", "product, stream, notice"),
        ] {
            let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY {order}"))
                .fetch_all(self.readers())
                .await
                .map_err(|e| self.db_err(e))?;
            let lines = rows.iter().map(row_as_text).collect();
            dump.insert(table.to_owned(), lines);
        }
        Ok(dump)
    }
}

fn row_as_text(row: &SqliteRow) -> String {
    use sqlx::{Column, ValueRef};
    let mut fields = Vec::new();
    for (index, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(index);
        let text = match raw {
            Ok(value) if value.is_null() => "NULL".to_owned(),
            _ => match row.try_get::<i64, _>(index) {
                Ok(number) => number.to_string(),
                Err(_) => format!("{:?}", row.try_get::<String, _>(index).unwrap_or_default()),
            },
        };
        fields.push(format!("{}={text}", column.name()));
    }
    fields.join(" ")
}

/// A value (or none) to bind to a single-parameter query.
trait ToBind {
    fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;
}

impl ToBind for i64 {
    fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        query.bind(self)
    }
}

impl ToBind for String {
    fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        query.bind(self)
    }
}

impl ToBind for () {
    fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        query
    }
}

/// The projection queries; [`super::traits`] puts them behind the backend traits.
impl SqliteStore {
    pub(super) async fn build(&self, id: BuildId) -> Result<Option<BuildRecord>> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?");
        self.one_build(&sql, sql_id(id.0)).await
    }

    pub(super) async fn succeeded_build_by_key(
        &self,
        key: &BuildKey,
    ) -> Result<Option<BuildRecord>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE build_key = ? AND state = 'succeeded' \
             ORDER BY id DESC LIMIT 1"
        );
        self.one_build(&sql, key.hex()).await
    }

    pub(super) async fn latest_build(&self, component: &str) -> Result<Option<BuildRecord>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE component = ? ORDER BY id DESC LIMIT 1"
        );
        self.one_build(&sql, component.to_owned()).await
    }

    pub(super) async fn latest_successful_build(
        &self,
        component: &str,
    ) -> Result<Option<BuildRecord>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE component = ? AND state IN {USABLE} \
             ORDER BY id DESC LIMIT 1"
        );
        self.one_build(&sql, component.to_owned()).await
    }

    pub(super) async fn latest_successful_builds(
        &self,
        components: &[String],
    ) -> Result<Vec<BuildRecord>> {
        // One statement for any number of names: they travel as one JSON array.
        let names = serde_json::to_string(components).expect("strings serialize to JSON");
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE id IN (SELECT max(id) FROM builds \
             WHERE state IN {USABLE} AND component IN (SELECT value FROM json_each(?)) \
             GROUP BY component)"
        );
        self.many_builds(&sql, names).await
    }

    pub(super) async fn builds_of_component(&self, component: &str) -> Result<Vec<BuildRecord>> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE component = ? ORDER BY id");
        self.many_builds(&sql, component.to_owned()).await
    }

    pub(super) async fn builds_of_wave(&self, wave: WaveId) -> Result<Vec<BuildRecord>> {
        let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE wave = ? ORDER BY id");
        self.many_builds(&sql, sql_id(wave.0)).await
    }

    pub(super) async fn wave(&self, id: WaveId) -> Result<Option<WaveRecord>> {
        let row = sqlx::query(&format!("SELECT {WAVE_COLUMNS} FROM waves WHERE id = ?"))
            .bind(sql_id(id.0))
            .fetch_optional(self.readers())
            .await
            .map_err(|e| self.db_err(e))?;
        row.as_ref().map(wave_from_row).transpose()
    }

    pub(super) async fn recent_waves(&self, limit: u32) -> Result<Vec<WaveRecord>> {
        self.many_waves(&format!(
            "SELECT {WAVE_COLUMNS} FROM waves ORDER BY id DESC LIMIT {limit}"
        ))
        .await
    }

    pub(super) async fn unfinished_waves(&self) -> Result<Vec<WaveRecord>> {
        self.many_waves(&format!(
            "SELECT {WAVE_COLUMNS} FROM waves WHERE state = 'planned' ORDER BY id"
        ))
        .await
    }

    pub(super) async fn unfinished_builds(&self) -> Result<Vec<BuildRecord>> {
        let sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE state IN ('scheduled', 'building') ORDER BY id"
        );
        self.many_builds(&sql, ()).await
    }

    pub(super) async fn component(&self, name: &str) -> Result<Option<ComponentRecord>> {
        let row = sqlx::query(
            "SELECT name, revision, last_change_reason, last_change_seq FROM components WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ComponentRecord {
            name: row.get("name"),
            revision: row.get("revision"),
            last_change_reason: row.get("last_change_reason"),
            last_change: row
                .get::<Option<i64>, _>("last_change_seq")
                .map(|s| Seq(s as u64)),
            latest_build: self.latest_build(name).await?,
            latest_success: self.latest_successful_build(name).await?,
        }))
    }

    pub(super) async fn components(&self) -> Result<Vec<ComponentRecord>> {
        let latest_sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE id IN \
             (SELECT max(id) FROM builds GROUP BY component)"
        );
        let success_sql = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE id IN \
             (SELECT max(id) FROM builds WHERE state IN {USABLE} GROUP BY component)"
        );
        let by_component = |builds: Vec<BuildRecord>| -> HashMap<String, BuildRecord> {
            builds
                .into_iter()
                .map(|b| (b.component.clone(), b))
                .collect()
        };
        let mut latest = by_component(self.many_builds(&latest_sql, ()).await?);
        let mut success = by_component(self.many_builds(&success_sql, ()).await?);
        let rows = sqlx::query(
            "SELECT name, revision, last_change_reason, last_change_seq FROM components \
             ORDER BY name",
        )
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        Ok(rows
            .iter()
            .map(|row| {
                let name: String = row.get("name");
                ComponentRecord {
                    revision: row.get("revision"),
                    last_change_reason: row.get("last_change_reason"),
                    last_change: row
                        .get::<Option<i64>, _>("last_change_seq")
                        .map(|s| Seq(s as u64)),
                    latest_build: latest.remove(&name),
                    latest_success: success.remove(&name),
                    name,
                }
            })
            .collect())
    }

    pub(super) async fn webhook_delivery(
        &self,
        forge: &str,
        delivery: &str,
    ) -> Result<Option<Seq>> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM webhook_deliveries WHERE forge = ?1 AND delivery = ?2",
        )
        .bind(forge)
        .bind(delivery)
        .fetch_optional(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        Ok(seq.map(|s| Seq(s as u64)))
    }

    pub(super) async fn component_names(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM components ORDER BY name")
            .fetch_all(self.readers())
            .await
            .map_err(|e| self.db_err(e))
    }

    pub(super) async fn artifacts_of_build(&self, build: BuildId) -> Result<Vec<ArtifactRecord>> {
        let rows = sqlx::query(
            "SELECT id, digest, name, kind, size, build FROM artifacts WHERE build = ? ORDER BY id",
        )
        .bind(sql_id(build.0))
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        rows.iter().map(artifact_from_row).collect()
    }

    pub(super) async fn build_log(&self, build: BuildId, after: Seq) -> Result<Vec<LogChunk>> {
        let rows = sqlx::query(
            "SELECT seq, kind, schema_version, body FROM events \
             WHERE build_id = ? AND seq > ? AND kind = 'build_log' ORDER BY seq",
        )
        .bind(sql_id(build.0))
        .bind(seq_to_sql(after))
        .fetch_all(self.readers())
        .await
        .map_err(|e| self.db_err(e))?;
        let mut chunks = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq = Seq(row.get::<i64, _>(0) as u64);
            let wire = WireEvent {
                kind: row.get(1),
                schema_version: row.get::<i64, _>(2) as u32,
                body: row.get(3),
            };
            if let Event::BuildLog { stream, chunk, .. } = wire.decode(seq)? {
                chunks.push(LogChunk { seq, stream, chunk });
            }
        }
        Ok(chunks)
    }

    pub(super) async fn live_digests(&self) -> Result<HashSet<Digest>> {
        let mut conn = self.readers().acquire().await.map_err(|e| self.db_err(e))?;
        live_digests_on(&mut conn)
            .await
            .map_err(|e| e.with_path(self.path()))
    }
}

/// See [`Projections::live_digests`]; on any connection, so garbage collection can decide
/// inside its own write transaction.
pub(super) async fn live_digests_on(conn: &mut SqliteConnection) -> Result<HashSet<Digest>> {
    let db = db_err_unnamed;
    let live_builds = format!(
        "SELECT MAX(id) FROM builds WHERE state IN {USABLE} GROUP BY component \
             UNION SELECT id FROM builds WHERE state IN ('scheduled', 'building')"
    );
    let outputs: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT id, outputs FROM builds WHERE id IN ({live_builds})"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut live = HashSet::new();
    for (id, text) in outputs {
        let outputs: Vec<BuildOutput> = parse_json("builds", id, &text)?;
        live.extend(outputs.into_iter().map(|o| o.digest));
    }
    let artifacts: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT id, digest FROM artifacts WHERE build IS NULL OR build IN ({live_builds})"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for (id, digest) in artifacts {
        live.insert(digest.parse().map_err(|e| corrupt("artifacts", id, e))?);
    }
    // A queued or running build reads its inputs' outputs (materialised
    // from these blobs) even when a newer build of an input superseded them.
    let unfinished: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, inputs FROM builds WHERE state IN ('scheduled', 'building')")
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    for (id, text) in unfinished {
        let inputs: BTreeMap<String, String> = parse_json("builds", id, &text)?;
        for (name, digest) in inputs {
            // The engine records an input's digest as bare hex (as `factory explain` shows it).
            if name.starts_with("input:") {
                let digest =
                    Digest::parse_lenient(&digest).map_err(|e| corrupt("builds", id, e))?;
                live.insert(digest);
            }
        }
    }
    Ok(live)
}

impl SqliteStore {
    pub(super) async fn inline_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT data FROM inline_blobs WHERE digest = ?")
            .bind(digest.to_string())
            .fetch_optional(self.readers())
            .await
            .map_err(|e| self.db_err(e))
    }

    pub(super) async fn inline_blobs_present(&self, digests: &[Digest]) -> Result<HashSet<Digest>> {
        let mut present = HashSet::new();
        // SQLite's limit on bound parameters is 32766; stay well below it.
        for chunk in digests.chunks(512) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT digest FROM inline_blobs WHERE digest IN ({marks})");
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for digest in chunk {
                query = query.bind(digest.to_string());
            }
            let found = query
                .fetch_all(self.readers())
                .await
                .map_err(|e| self.db_err(e))?;
            for text in found {
                present.insert(text.parse()?);
            }
        }
        Ok(present)
    }

    pub(super) async fn inline_blob_sizes(&self) -> Result<Vec<(Digest, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT digest, length(data) FROM inline_blobs ORDER BY digest")
                .fetch_all(self.readers())
                .await
                .map_err(|e| self.db_err(e))?;
        rows.into_iter()
            .map(|(digest, size)| Ok((digest.parse()?, size.max(0) as u64)))
            .collect()
    }
}

/// Removes the inline blobs that are not live, deciding and removing in the caller's
/// transaction.
pub(super) async fn collect_inline_on(conn: &mut SqliteConnection) -> Result<GcReport> {
    let db = db_err_unnamed;
    let live = live_digests_on(&mut *conn).await?;
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT digest, length(data) FROM inline_blobs")
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    let mut report = GcReport::default();
    for (text, size) in stored {
        let size = size.max(0) as u64;
        let digest: Digest = text.parse()?;
        if live.contains(&digest) {
            report.kept += 1;
            report.bytes_kept += size;
            continue;
        }
        sqlx::query("DELETE FROM inline_blobs WHERE digest = ?")
            .bind(&text)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        report.removed += 1;
        report.bytes_freed += size;
    }
    Ok(report)
}
