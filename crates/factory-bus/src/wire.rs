//! The messages' bodies: wire types, apart from the store's domain events so that either can
//! change without the other. One type per topic, so each topic has a JSON Schema generated
//! from the type that serializes it (see [`crate::schema`]). `/api/v1/events` and the live
//! stream serve the same [`Envelope`].

use std::collections::BTreeMap;

use factory_store::{Event, FailureKind, LogStream, RecordedEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use factory_store::rfc3339;
pub use factory_types::topic::topic;

/// One event as a message body: where it is in the log, what it is, when, and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<D> {
    /// The event's sequence number: the log's order. Consumers drop a message whose `seq`
    /// they have already seen (delivery is at least once).
    pub seq: u64,
    /// The topic without the bus prefix (`build.succeeded`).
    pub topic: String,
    /// When the event was committed, RFC 3339 in UTC with milliseconds.
    pub recorded_at: String,
    /// The build the event is about, if any (a build's id is the sequence number of its
    /// `build.queued` event).
    pub build: Option<u64>,
    /// The event's own fields, by topic.
    pub data: D,
}

/// A body of any topic.
pub type Body = Envelope<Data>;

impl Body {
    pub fn from_recorded(recorded: &RecordedEvent) -> Body {
        let event = &recorded.event;
        Envelope {
            seq: recorded.seq.0,
            topic: topic(event.kind()),
            recorded_at: rfc3339(recorded.recorded_at_ms),
            build: match event {
                // A build's id is the sequence number of the event that queued it.
                Event::BuildQueued { .. } => Some(recorded.seq.0),
                event => event.build().map(|b| b.0),
            },
            data: Data::from_event(event),
        }
    }
}

/// A component changed upstream, in the definition, or by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeDetected {
    /// The component that changed.
    pub component: String,
    /// Why, in words (`upstream commit`, `definition changed`, `rebuild asked by ci`).
    pub reason: String,
    /// The new revision, when the change names one (a git commit).
    pub revision: Option<String>,
}

/// A wave was planned: the affected set of a change and the order it is rebuilt in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WavePlanned {
    /// What started it, in words.
    pub trigger: String,
    /// The jobs it builds.
    pub affected: Vec<String>,
    /// Levels of jobs; each level depends only on earlier ones.
    pub plan: Vec<Vec<String>>,
}

/// Every build of a wave reached a final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WaveFinished {
    /// The wave's id: the `seq` of its `wave.planned`.
    pub wave: u64,
    /// Builds by outcome, in words.
    pub summary: String,
}

/// A build was scheduled; its id is this message's `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildQueued {
    /// The wave it belongs to (none for a build asked for outside a wave).
    pub wave: Option<u64>,
    /// The component it builds.
    pub component: String,
    /// The build key (64 hex digits); null for a build that never had one (blocked before
    /// it was prepared).
    pub key: Option<String>,
    /// Why it was queued.
    pub reason: String,
    /// What the key was computed from: ingredient name → digest or revision.
    pub inputs: BTreeMap<String, String>,
}

/// A dependency failed: the build will not run in its wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildBlocked {
    /// The build.
    pub build: u64,
    /// The builds that failed.
    pub by: Vec<u64>,
    /// Why, in words.
    pub reason: String,
}

/// A build's attempt started running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildStarted {
    /// The build.
    pub build: u64,
    /// 1 for the first try; retries after a fault of the machine count up.
    pub attempt: u32,
}

/// Which stream a line of a build's log came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
    /// Written by Factory about the build (the command about to run, retries).
    Factory,
}

/// Lines of a running build's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildLog {
    /// The build.
    pub build: u64,
    /// Which stream the lines came from.
    pub stream: Stream,
    /// Whole lines, each ending in a newline.
    pub chunk: String,
}

/// One output of a build, in the content-addressed store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The output's name in the definition.
    pub name: String,
    /// `sha256:` and 64 hex digits; download at `/api/v1/blobs/{digest}`.
    pub digest: String,
    /// In bytes.
    pub size: u64,
}

/// A build ran and its outputs are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildSucceeded {
    /// The build.
    pub build: u64,
    /// What it stored, by name.
    pub outputs: Vec<Output>,
}

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The build's own (its command failed): never retried.
    User,
    /// The machine's (a sandbox that cannot start, a full disk), after the retries.
    Infrastructure,
}

/// A build failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildFailed {
    /// The build.
    pub build: u64,
    /// Why, in words (the exit status, the fault of the machine).
    pub reason: String,
    /// Whose fault it is.
    pub kind: Failure,
}

/// A build was cancelled (superseded by a newer change, asked for, or shut down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildCancelled {
    /// The build.
    pub build: u64,
    /// Why, in words.
    pub reason: String,
}

/// The build key already succeeded: its outputs are reused and nothing runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildReused {
    /// The build.
    pub build: u64,
    /// The build whose outputs are reused.
    pub from: u64,
}

/// Early cutoff: the inputs turned out identical to those of an earlier build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildCutOff {
    /// The build.
    pub build: u64,
    /// Why, in words.
    pub reason: String,
    /// The earlier build whose outputs stand.
    pub previous: Option<u64>,
}

/// A blob was stored and named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactStored {
    /// `sha256:` and 64 hex digits.
    pub digest: String,
    /// The artifact's name.
    pub name: String,
    /// What it is (`deb`, `rpm`, `oci`, `tarball`, ...).
    pub kind: String,
    /// In bytes.
    pub size: u64,
    /// The build that made it, if a build did.
    pub build: Option<u64>,
}

/// An API token was made (never the token nor its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    /// The token's name (never the token).
    pub name: String,
    /// read, build or admin.
    pub scope: String,
    /// The groups whose components a `build` token may rebuild.
    pub owners: Vec<String>,
}

/// The active API token of this name was revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// The token's name.
    pub name: String,
}

/// The server decided whether a caller may do something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessDecided {
    /// The token's name, or `anonymous`.
    pub who: String,
    /// rebuild, cancel_wave or cancel_build.
    pub action: String,
    /// A component, `w12`, `b34`.
    pub target: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// Why, in words.
    pub why: String,
}

/// A forge told of a push (a webhook delivery with a valid signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookReceived {
    /// `github` (also Forgejo and Gitea) or `gitlab`.
    pub forge: String,
    /// The forge's delivery id: a redelivery carries the same one.
    pub delivery: String,
    pub repository: String,
    /// The ref pushed (`refs/heads/main`).
    pub git_ref: String,
    /// The commit the ref points to now, when the forge said.
    pub commit: Option<String>,
    /// The components whose git source the push moved (may be none).
    pub components: Vec<String>,
}

/// A hook of the definition was run for an event (one record per attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HookRan {
    pub hook: String,
    /// The sequence number of the event it ran for.
    pub event_seq: u64,
    /// That event's topic.
    pub topic: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// succeeded or failed.
    pub outcome: String,
    /// The exit status or the HTTP status, and the end of the output.
    pub detail: String,
    pub duration_ms: u64,
    /// When a failed attempt will be tried again; none once the event is done with.
    pub retry_in_ms: Option<u64>,
}

/// A product stream released a candidate into one of its channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseMade {
    pub product: String,
    pub stream: String,
    /// The channel it went to (`testing`, `stable`).
    pub channel: String,
    /// Numbered per stream from 1, whatever the channel; a release never changes.
    pub number: u64,
    /// `sha256:HEX` over what it ships: the same outputs give the same candidate.
    pub candidate: String,
    /// What it ships: each job's output digest (`sha256:HEX`), by job name.
    pub contents: BTreeMap<String, String>,
    /// The compose's id, in productmd's form.
    pub compose_id: String,
    /// Where the compose is, relative to the store directory.
    pub compose_path: String,
    /// The cadence that released it (`on-green`, `schedule`, `after 3d in testing`) or the
    /// token that asked.
    pub by: String,
    /// Why now, in words (the gate's summary).
    pub why: String,
}

/// A product stream's end of life is near or passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamEol {
    pub product: String,
    pub stream: String,
    /// `warning` (within the stream's `eol-warning`) or `ended` (it releases nothing more).
    pub notice: String,
    /// `YYYY-MM-DD`.
    pub end_of_life: String,
}

/// The data of any topic. Serialize only: which topic a body is of is its `topic`, not its
/// shape (several topics share a shape), so a consumer reads the data by topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Data {
    ChangeDetected(ChangeDetected),
    WavePlanned(WavePlanned),
    WaveFinished(WaveFinished),
    BuildQueued(BuildQueued),
    BuildBlocked(BuildBlocked),
    BuildStarted(BuildStarted),
    BuildLog(BuildLog),
    BuildSucceeded(BuildSucceeded),
    BuildFailed(BuildFailed),
    BuildCancelled(BuildCancelled),
    BuildReused(BuildReused),
    BuildCutOff(BuildCutOff),
    ArtifactStored(ArtifactStored),
    TokenCreated(TokenCreated),
    TokenRevoked(TokenRevoked),
    AccessDecided(AccessDecided),
    WebhookReceived(WebhookReceived),
    HookRan(HookRan),
    ReleaseMade(ReleaseMade),
    StreamEol(StreamEol),
    /// An event kind this Factory has no wire type for yet (the store's enum grows first):
    /// its stored form, as it is, rather than nothing. The schema test holds every kind
    /// Factory writes to a type of its own.
    Other(serde_json::Value),
}

impl Data {
    pub fn from_event(event: &Event) -> Data {
        match event {
            Event::ChangeDetected {
                component,
                reason,
                revision,
            } => Data::ChangeDetected(ChangeDetected {
                component: component.clone(),
                reason: reason.clone(),
                revision: revision.clone(),
            }),
            Event::WavePlanned {
                trigger,
                affected,
                plan,
            } => Data::WavePlanned(WavePlanned {
                trigger: trigger.clone(),
                affected: affected.clone(),
                plan: plan.clone(),
            }),
            Event::WaveFinished { wave, summary } => Data::WaveFinished(WaveFinished {
                wave: wave.0,
                summary: summary.clone(),
            }),
            Event::BuildQueued {
                wave,
                component,
                key,
                reason,
                inputs,
            } => Data::BuildQueued(BuildQueued {
                wave: wave.map(|w| w.0),
                component: component.clone(),
                key: key.map(|k| k.to_string()),
                reason: reason.clone(),
                inputs: inputs.clone(),
            }),
            event => Data::from_build_event(event)
                .or_else(|| Data::from_audit_event(event))
                .unwrap_or_else(|| Data::Other(stored_form(event))),
        }
    }

    fn from_build_event(event: &Event) -> Option<Data> {
        Some(match event {
            Event::BuildBlocked { build, by, reason } => Data::BuildBlocked(BuildBlocked {
                build: build.0,
                by: by.iter().map(|b| b.0).collect(),
                reason: reason.clone(),
            }),
            Event::BuildStarted { build, attempt } => Data::BuildStarted(BuildStarted {
                build: build.0,
                attempt: *attempt,
            }),
            Event::BuildLog {
                build,
                stream,
                chunk,
            } => Data::BuildLog(BuildLog {
                build: build.0,
                stream: match stream {
                    LogStream::Stdout => Stream::Stdout,
                    LogStream::Stderr => Stream::Stderr,
                    LogStream::Factory => Stream::Factory,
                },
                chunk: chunk.clone(),
            }),
            Event::BuildSucceeded { build, outputs } => Data::BuildSucceeded(BuildSucceeded {
                build: build.0,
                outputs: outputs
                    .iter()
                    .map(|o| Output {
                        name: o.name.clone(),
                        digest: o.digest.to_string(),
                        size: o.size,
                    })
                    .collect(),
            }),
            Event::BuildFailed {
                build,
                reason,
                kind,
            } => Data::BuildFailed(BuildFailed {
                build: build.0,
                reason: reason.clone(),
                kind: match kind {
                    FailureKind::User => Failure::User,
                    FailureKind::Infrastructure => Failure::Infrastructure,
                },
            }),
            event => return Data::from_ending_event(event),
        })
    }

    fn from_ending_event(event: &Event) -> Option<Data> {
        Some(match event {
            Event::BuildCancelled { build, reason } => Data::BuildCancelled(BuildCancelled {
                build: build.0,
                reason: reason.clone(),
            }),
            Event::BuildReused { build, from } => Data::BuildReused(BuildReused {
                build: build.0,
                from: from.0,
            }),
            Event::BuildCutOff {
                build,
                reason,
                previous,
            } => Data::BuildCutOff(BuildCutOff {
                build: build.0,
                reason: reason.clone(),
                previous: previous.map(|p| p.0),
            }),
            Event::ArtifactStored {
                digest,
                name,
                kind,
                size,
                build,
            } => Data::ArtifactStored(ArtifactStored {
                digest: digest.to_string(),
                name: name.clone(),
                kind: kind.clone(),
                size: *size,
                build: build.map(|b| b.0),
            }),
            _ => return None,
        })
    }

    fn from_audit_event(event: &Event) -> Option<Data> {
        Some(match event {
            Event::TokenCreated {
                name,
                scope,
                owners,
            } => Data::TokenCreated(TokenCreated {
                name: name.clone(),
                scope: scope.clone(),
                owners: owners.clone(),
            }),
            Event::TokenRevoked { name } => Data::TokenRevoked(TokenRevoked { name: name.clone() }),
            Event::AccessDecided {
                who,
                action,
                target,
                allowed,
                why,
            } => Data::AccessDecided(AccessDecided {
                who: who.clone(),
                action: action.clone(),
                target: target.clone(),
                allowed: *allowed,
                why: why.clone(),
            }),
            Event::WebhookReceived {
                forge,
                delivery,
                repository,
                git_ref,
                commit,
                components,
            } => Data::WebhookReceived(WebhookReceived {
                forge: forge.clone(),
                delivery: delivery.clone(),
                repository: repository.clone(),
                git_ref: git_ref.clone(),
                commit: commit.clone(),
                components: components.clone(),
            }),
            Event::HookRan {
                hook,
                event_seq,
                topic,
                attempt,
                outcome,
                detail,
                duration_ms,
                retry_in_ms,
            } => Data::HookRan(HookRan {
                hook: hook.clone(),
                event_seq: event_seq.0,
                topic: topic.clone(),
                attempt: *attempt,
                outcome: outcome.as_str().to_owned(),
                detail: detail.clone(),
                duration_ms: *duration_ms,
                retry_in_ms: *retry_in_ms,
            }),
            event => return Data::from_release_event(event),
        })
    }
}

impl Data {
    fn from_release_event(event: &Event) -> Option<Data> {
        Some(match event {
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
            } => Data::ReleaseMade(ReleaseMade {
                product: product.clone(),
                stream: stream.clone(),
                channel: channel.clone(),
                number: *number,
                candidate: candidate.to_string(),
                contents: contents
                    .iter()
                    .map(|(job, digest)| (job.clone(), digest.to_string()))
                    .collect(),
                compose_id: compose_id.clone(),
                compose_path: compose_path.clone(),
                by: by.clone(),
                why: why.clone(),
            }),
            Event::StreamEol {
                product,
                stream,
                notice,
                end_of_life,
            } => Data::StreamEol(StreamEol {
                product: product.clone(),
                stream: stream.clone(),
                notice: notice.clone(),
                end_of_life: end_of_life.clone(),
            }),
            _ => return None,
        })
    }
}

/// The stored body of an event, for a kind without a wire type.
fn stored_form(event: &Event) -> serde_json::Value {
    let wire = factory_store::WireEvent::encode(event);
    serde_json::from_str(&wire.body).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use factory_store::{BuildId, RecordedEvent, Seq};

    #[test]
    fn a_build_event_names_its_build_and_a_queued_one_itself() {
        let failed = RecordedEvent {
            seq: Seq(12),
            recorded_at_ms: 1_700_000_000_123,
            event: Event::BuildFailed {
                build: BuildId(7),
                reason: "exit 1".into(),
                kind: factory_store::FailureKind::User,
            },
        };
        let published = Body::from_recorded(&failed);
        assert_eq!(published.topic, "build.failed");
        assert_eq!(published.build, Some(7));
        assert_eq!(published.recorded_at, "2023-11-14T22:13:20.123Z");
        let json = serde_json::to_value(&published).unwrap();
        assert_eq!(json["data"]["reason"], "exit 1");
        assert_eq!(json["seq"], 12);
        assert_eq!(json["data"]["kind"], "user");

        let queued = RecordedEvent {
            seq: Seq(5),
            recorded_at_ms: 0,
            event: Event::BuildQueued {
                wave: None,
                component: "hello".into(),
                key: None,
                reason: "first".into(),
                inputs: Default::default(),
            },
        };
        assert_eq!(Body::from_recorded(&queued).build, Some(5));
    }
}
