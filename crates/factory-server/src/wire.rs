//! The API's JSON: wire types, separate from the store's domain records so either can
//! change without the other. Names are snake_case, times RFC 3339 in UTC, ids numbers
//! (a build's id is the sequence number of the event that queued it, as everywhere).

use std::collections::BTreeMap;

use factory_store::{
    ArtifactRecord, BuildOutput, BuildRecord, ComponentRecord, RecordedEvent, WaveRecord, WaveState,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-12-03T12:50:43.123Z`).
pub fn rfc3339(ms: i64) -> String {
    factory_store::rfc3339(ms)
}

/// An event's topic: its type with the subject and the verb split by a dot
/// (`build_succeeded` → `build.succeeded`), as bus routing keys and filters use it.
pub fn topic(kind: &str) -> String {
    factory_types::topic::topic(kind)
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
    /// Its failed builds, each with the builds it blocked.
    pub failures: Vec<FailureGroupOut>,
    pub builds: Vec<Build>,
    /// Jobs of the affected set not queued yet (each is queued once its inputs in the
    /// wave have succeeded), with what they wait for.
    pub pending: Vec<PendingJob>,
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

/// Made from the store's published form, which hooks (and the bus) send too: one shape.
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

/// One reason of a `why`, tagged by `kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReasonOut {
    /// An input built in the same wave has not finished.
    WaitingForInput {
        input: String,
        build: Option<u64>,
        state: Option<String>,
    },
    /// Every slot is taken, by these builds.
    NoFreeSlot {
        holders: Vec<u64>,
        slots: usize,
    },
    /// Nothing to wait for: it starts in a moment.
    Ready,
    /// Its wave was interrupted; it resumes on the next `factory up`.
    Interrupted {
        wave: u64,
    },
    /// A failure upstream, down to its root (`path` from the direct blocker to the root).
    BlockedBy {
        root: u64,
        root_component: String,
        root_detail: Option<String>,
        path: Vec<u64>,
    },
    /// Its key had already succeeded in `from`.
    Reused {
        from: u64,
    },
    /// Early cutoff: its inputs came out as in `previous`.
    CutOff {
        detail: String,
        previous: Option<u64>,
    },
    Running {
        since: String,
        attempt: u32,
    },
    /// Why it was queued.
    Queued {
        reason: String,
    },
    Failed {
        detail: String,
        infrastructure: bool,
    },
    Cancelled {
        detail: String,
    },
}

impl From<&factory_engine::why::Reason> for ReasonOut {
    fn from(reason: &factory_engine::why::Reason) -> Self {
        use factory_engine::why::Reason as R;
        match reason.clone() {
            R::WaitingForInput {
                input,
                build,
                state,
            } => ReasonOut::WaitingForInput {
                input,
                build: build.map(|b| b.0),
                state: state.map(|s| s.as_str().to_owned()),
            },
            R::NoFreeSlot { holders, slots } => ReasonOut::NoFreeSlot {
                holders: holders.iter().map(|b| b.0).collect(),
                slots,
            },
            R::Ready => ReasonOut::Ready,
            R::Interrupted { wave } => ReasonOut::Interrupted { wave: wave.0 },
            R::BlockedBy {
                root,
                root_component,
                root_detail,
                path,
            } => ReasonOut::BlockedBy {
                root: root.0,
                root_component,
                root_detail,
                path: path.iter().map(|b| b.0).collect(),
            },
            R::Reused { from } => ReasonOut::Reused { from: from.0 },
            R::CutOff { detail, previous } => ReasonOut::CutOff {
                detail,
                previous: previous.map(|b| b.0),
            },
            R::Running { since_ms, attempt } => ReasonOut::Running {
                since: rfc3339(since_ms),
                attempt,
            },
            R::Queued { reason } => ReasonOut::Queued { reason },
            R::Failed {
                detail,
                infrastructure,
            } => ReasonOut::Failed {
                detail,
                infrastructure,
            },
            R::Cancelled { detail } => ReasonOut::Cancelled { detail },
        }
    }
}

/// Why a build is in its state, down to the root cause.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhyOut {
    pub build: u64,
    pub component: String,
    pub state: String,
    /// The first reason, in words.
    pub summary: String,
    pub reasons: Vec<ReasonOut>,
}

/// A failed build and the builds of its wave it blocked.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureGroupOut {
    pub root: u64,
    pub component: String,
    pub detail: Option<String>,
    /// The machine failed, not the build.
    pub infrastructure: bool,
    pub blocked_count: usize,
    pub blocked: Vec<u64>,
    /// "libfoo failed: 312 builds blocked".
    pub summary: String,
}

impl From<&factory_engine::why::FailureGroup> for FailureGroupOut {
    fn from(group: &factory_engine::why::FailureGroup) -> Self {
        let n = group.blocked.len();
        let blocked = match n {
            1 => "1 build blocked".to_owned(),
            n => format!("{n} builds blocked"),
        };
        FailureGroupOut {
            root: group.root.0,
            component: group.component.clone(),
            detail: group.detail.clone(),
            infrastructure: group.infrastructure,
            blocked_count: n,
            blocked: group.blocked.iter().map(|b| b.0).collect(),
            summary: format!("{} failed: {blocked}", group.component),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailureGroups {
    pub wave: u64,
    pub groups: Vec<FailureGroupOut>,
}

/// When a wave is expected to end.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    pub wave: u64,
    /// running, interrupted or finished.
    pub state: String,
    pub remaining_seconds: f64,
    pub expected_finish: Option<String>,
    /// The chain of unfinished jobs that takes longest, first to last.
    pub critical_path: Vec<String>,
    /// Unfinished builds whose duration comes from their own history, and those guessed
    /// from the typical duration.
    pub from_history: usize,
    pub guessed: usize,
}

/// Unfinished builds, each with its why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    /// Unfinished builds by state.
    pub counts: BTreeMap<String, usize>,
    pub builds: Vec<WhyOut>,
}

/// Why a job of a wave is where it is, whether it has a build yet or not.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingWhy {
    pub wave: u64,
    pub job: String,
    /// Its build in the wave, once queued.
    pub build: Option<u64>,
    pub summary: String,
    pub reasons: Vec<ReasonOut>,
}

/// A job of a wave's affected set that has no build yet, with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingJob {
    pub job: String,
    pub summary: String,
}

/// What a forge's delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookOutcome {
    /// started (a change of `components` in `wave`), duplicate (this delivery was taken
    /// before) or ignored (not a push, or nothing follows the pushed ref).
    pub status: String,
    pub components: Vec<String>,
    pub wave: Option<u64>,
    /// The event that recorded the delivery (the first one, for a duplicate).
    pub recorded: Option<u64>,
    pub detail: String,
}

impl HookOutcome {
    pub fn ignored(detail: String) -> HookOutcome {
        HookOutcome {
            status: "ignored".into(),
            components: Vec::new(),
            wave: None,
            recorded: None,
            detail,
        }
    }

    pub fn duplicate(delivery: &str, seq: u64) -> HookOutcome {
        HookOutcome {
            status: "duplicate".into(),
            components: Vec::new(),
            wave: None,
            recorded: Some(seq),
            detail: format!("delivery {delivery} was taken before; nothing more to do"),
        }
    }

    pub fn started(components: Vec<String>, wave: u64, seq: u64) -> HookOutcome {
        let detail = format!("a change of {} in wave w{wave}", components.join(", "));
        HookOutcome {
            status: "started".into(),
            components,
            wave: Some(wave),
            recorded: Some(seq),
            detail,
        }
    }
}

/// One Server-Sent Event of `/api/v1/events/stream`, as a client's parser sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SseMessage {
    /// The event's sequence number (send it back as `Last-Event-ID`).
    pub id: Option<String>,
    /// Its topic.
    pub event: Option<String>,
    /// The event as JSON, in the form of [`EventOut`].
    pub data: String,
}

/// One release of a product stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct Release {
    pub product: String,
    pub stream: String,
    /// Numbered per stream from 1, whatever the channel.
    pub number: u64,
    pub channel: String,
    /// `sha256:HEX` over what it ships.
    pub candidate: String,
    /// What it ships: each job's output digest, by job name.
    pub contents: BTreeMap<String, String>,
    pub compose_id: String,
    /// Where the compose is, relative to the store directory.
    pub compose_path: String,
    /// The cadence that released it, or who asked.
    pub by: String,
    pub why: String,
    pub released_at: String,
    /// The sequence number of its `release.made` event.
    pub seq: u64,
}

impl From<&factory_store::ReleaseRecord> for Release {
    fn from(r: &factory_store::ReleaseRecord) -> Release {
        Release {
            product: r.product.clone(),
            stream: r.stream.clone(),
            number: r.number,
            channel: r.channel.clone(),
            candidate: r.candidate.to_string(),
            contents: r
                .contents
                .iter()
                .map(|(job, d)| (job.clone(), d.to_string()))
                .collect(),
            compose_id: r.compose_id.clone(),
            compose_path: r.compose_path.clone(),
            by: r.by.clone(),
            why: r.why.clone(),
            released_at: rfc3339(r.released_at_ms),
            seq: r.seq.0,
        }
    }
}

/// A product and its streams, each with its channels and what they wait for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductOut {
    pub name: String,
    pub description: Option<String>,
    pub streams: Vec<ProductStreamOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductStreamOut {
    pub name: String,
    /// `YYYY-MM-DD`: it releases nothing after this day.
    pub end_of_life: String,
    /// `active`, `ending` (within its warning time of the end of life) or `ended`.
    pub lifecycle: String,
    pub channels: Vec<ChannelOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOut {
    pub name: String,
    /// `on-green`, `manual`, `schedule CRON` or `after AGE in CHANNEL`.
    pub release: String,
    /// Its gate's decision context, if it has one.
    pub gate: Option<String>,
    /// Its newest release.
    pub latest: Option<u64>,
    /// `due` (a pass releases it now) or `waiting`; absent when no releaser runs here.
    pub state: Option<String>,
    /// Why it waits, in words.
    pub why: Option<String>,
}

/// A release asked for by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The channel (default: the stream's first).
    pub channel: Option<String>,
}
