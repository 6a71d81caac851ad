//! The API's JSON: wire types, separate from the store's domain records so either can
//! change without the other. Names are snake_case, times RFC 3339 in UTC, ids numbers
//! (a build's id is the sequence number of the event that queued it, as everywhere).

use std::collections::BTreeMap;

use factory_store::{
    ArtifactRecord, BuildOutput, BuildRecord, ComponentRecord, RecordedEvent, WaveRecord, WaveState,
};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-12-03T12:50:43.123Z`).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An event's topic: its type with the subject and the verb split by a dot
/// (`build_succeeded` → `build.succeeded`), as bus routing keys and filters use it.
pub fn topic(kind: &str) -> String {
    factory_bus::topic(kind)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Output {
    pub name: String,
    /// `sha256:` and 64 hex digits; download at `/api/v1/blobs/{digest}`.
    pub digest: String,
    pub size: u64,
}

impl From<&BuildOutput> for Output {
    fn from(o: &BuildOutput) -> Self {
        Output {
            name: o.name.clone(),
            digest: o.digest.to_string(),
            size: o.size,
        }
    }
}

/// One build and everything the store knows about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Build {
    pub id: u64,
    pub wave: Option<u64>,
    pub component: String,
    /// The build key (64 hex digits); none for a build that never had one.
    pub key: Option<String>,
    /// scheduled, blocked, building, failed, succeeded, unchanged, cancelled or reused.
    pub state: String,
    /// Why it was queued.
    pub reason: String,
    /// Why it failed, was cancelled, blocked or cut off.
    pub detail: Option<String>,
    /// user or infrastructure, for a failed build.
    pub failure_kind: Option<String>,
    /// The blocking builds (blocked), the build reused (reused), the previous build
    /// (unchanged).
    pub related: Vec<u64>,
    pub attempt: u32,
    /// What the key was computed from: ingredient name → digest or revision.
    pub inputs: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
    pub log_bytes: u64,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Seconds from start to finish, once it finished.
    pub duration_seconds: Option<f64>,
    /// The sequence number of the last event that changed it.
    pub last_seq: u64,
}

impl From<&BuildRecord> for Build {
    fn from(b: &BuildRecord) -> Self {
        let duration = match (b.started_at_ms, b.finished_at_ms) {
            (Some(start), Some(end)) => Some((end - start).max(0) as f64 / 1000.0),
            _ => None,
        };
        Build {
            id: b.id.0,
            wave: b.wave.map(|w| w.0),
            component: b.component.clone(),
            key: b.key.map(|k| k.to_string()),
            state: b.state.as_str().to_owned(),
            reason: b.reason.clone(),
            detail: b.detail.clone(),
            failure_kind: b.failure_kind.map(|k| k.as_str().to_owned()),
            related: b.related.iter().map(|r| r.0).collect(),
            attempt: b.attempt,
            inputs: b.inputs.clone(),
            outputs: b.outputs.iter().map(Output::from).collect(),
            log_bytes: b.log_bytes,
            queued_at: rfc3339(b.queued_at_ms),
            started_at: b.started_at_ms.map(rfc3339),
            finished_at: b.finished_at_ms.map(rfc3339),
            duration_seconds: duration,
            last_seq: b.last_seq.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Wave {
    pub id: u64,
    /// What started it, in words.
    pub trigger: String,
    /// The jobs it builds.
    pub affected: Vec<String>,
    /// Levels of jobs; each level depends only on earlier ones.
    pub plan: Vec<Vec<String>>,
    /// planned (running, or interrupted) or finished.
    pub state: String,
    pub summary: Option<String>,
    pub planned_at: String,
    pub finished_at: Option<String>,
}

impl From<&WaveRecord> for Wave {
    fn from(w: &WaveRecord) -> Self {
        Wave {
            id: w.id.0,
            trigger: w.trigger.clone(),
            affected: w.affected.clone(),
            plan: w.plan.clone(),
            state: match w.state {
                WaveState::Planned => "planned",
                WaveState::Finished => "finished",
            }
            .to_owned(),
            summary: w.summary.clone(),
            planned_at: rfc3339(w.planned_at_ms),
            finished_at: w.finished_at_ms.map(rfc3339),
        }
    }
}

/// A wave's story: the change, its affected set and plan, and every build with its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaveStory {
    pub wave: Wave,
    /// Builds by state.
    pub counts: BTreeMap<String, usize>,
    pub builds: Vec<Build>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaveList {
    pub waves: Vec<Wave>,
}

/// A component as the store and the running definition know it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Component {
    pub name: String,
    /// The kind its recipe uses, when the running definition has it.
    pub kind: Option<String>,
    /// Groups that own it (who may rebuild it and what depends on it).
    pub owners: Vec<String>,
    pub streams: Vec<String>,
    /// Revision from the last change, when the change named one.
    pub revision: Option<String>,
    pub last_change_reason: Option<String>,
    pub latest_build: Option<Build>,
    /// The latest build whose outputs are usable.
    pub latest_success: Option<Build>,
}

/// A component with what it builds from and into.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentDetail {
    #[serde(flatten)]
    pub component: Component,
    /// The jobs whose outputs it reads (input name → job).
    pub inputs: BTreeMap<String, String>,
    /// The jobs that read its outputs directly.
    pub dependents: Vec<String>,
    /// Everything a change to it rebuilds (itself included).
    pub affected: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentList {
    pub components: Vec<Component>,
}

impl Component {
    pub fn from_record(record: &ComponentRecord, def: Option<&factory_def::Component>) -> Self {
        Component {
            name: record.name.clone(),
            kind: def.map(|c| c.kind_name().to_owned()),
            owners: def.map(|c| c.owners.clone()).unwrap_or_default(),
            streams: def
                .map(|c| c.streams.keys().cloned().collect())
                .unwrap_or_default(),
            revision: record.revision.clone(),
            last_change_reason: record.last_change_reason.clone(),
            latest_build: record.latest_build.as_ref().map(Build::from),
            latest_success: record.latest_success.as_ref().map(Build::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Artifact {
    /// The sequence number of the event that stored it.
    pub id: u64,
    pub name: String,
    pub kind: String,
    pub digest: String,
    pub size: u64,
    pub build: Option<u64>,
}

impl From<&ArtifactRecord> for Artifact {
    fn from(a: &ArtifactRecord) -> Self {
        Artifact {
            id: a.id.0,
            name: a.name.clone(),
            kind: a.kind.clone(),
            digest: a.digest.to_string(),
            size: a.size,
            build: a.build.map(|b| b.0),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactList {
    pub artifacts: Vec<Artifact>,
}

/// Why a build ran: what differs from the previous build of its component.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    pub build: u64,
    pub lines: Vec<String>,
}

/// One event of the log: the same fields, in the same order, as a bus message's body
/// ([`factory_bus::Body`], which this is made from).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// Its sequence number: the log's order, and the cursor to page and resume by.
    pub seq: u64,
    /// `build.succeeded`, `wave.planned`, ...
    pub topic: String,
    pub recorded_at: String,
    pub build: Option<u64>,
    /// The event's own fields (docs/events.md has them by topic).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&RecordedEvent> for EventOut {
    fn from(recorded: &RecordedEvent) -> Self {
        let body = factory_bus::Body::from_recorded(recorded);
        EventOut {
            seq: body.seq,
            topic: body.topic,
            recorded_at: body.recorded_at,
            build: body.build,
            data: serde_json::to_value(&body.data).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventOut>,
    /// Pass as `after` for the next page; absent at the end of the log.
    pub next_after: Option<u64>,
    /// The last sequence number of the log when the page was read.
    pub last_seq: u64,
}

/// What a mutation started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// started (the wave runs), queued (after the running wave) or cancelling.
    pub status: String,
    pub wave: Option<u64>,
    pub build: Option<u64>,
    /// Where to follow it.
    pub location: Option<String>,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub last_seq: Option<u64>,
    pub detail: Option<String>,
}
