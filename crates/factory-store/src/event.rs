//! The domain events of the factory and their wire form (the database row).
//!
//! The event log is the source of truth: everything else in the store is a projection of
//! these events. Events are immutable once written, so a change to a payload's shape needs a
//! new [`SCHEMA_VERSION`] and an upcast in [`WireEvent::decode`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use factory_types::{BuildId, BuildKey, Digest, LogStream, Seq, WaveId};

use crate::error::StoreError;

/// The schema version written with every new event.
///
/// - 1: the first log.
/// - 2: adds `token_created` and `token_revoked`. Every version-1 row reads the same under
///   version 2 (no variant changed), so no upcast is needed; the bump is for an older
///   Factory, which must stop at a token event rather than fail to decode it.
/// - 3: adds `hook_ran`. As for 2, older rows read the same (no variant changed).
/// - 4: adds `release_made` and `stream_eol`. As for 2.
pub const SCHEMA_VERSION: u32 = 4;

/// One named output of a build, stored in the content-addressed store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct BuildOutput {
    pub name: String,
    pub digest: Digest,
    pub size: u64,
}

/// Why a build failed: its own fault (never retried) or the machine's (retried with backoff).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    User,
    Infrastructure,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::User => "user",
            FailureKind::Infrastructure => "infrastructure",
        }
    }

    /// Whether the machine failed rather than the build.
    pub fn is_infrastructure(self) -> bool {
        self == FailureKind::Infrastructure
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(FailureKind::User),
            "infrastructure" => Some(FailureKind::Infrastructure),
            _ => None,
        }
    }
}

/// How one attempt to run a hook for an event ended.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    Succeeded,
    Failed,
}

impl HookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            HookOutcome::Succeeded => "succeeded",
            HookOutcome::Failed => "failed",
        }
    }
}

/// Everything that happens in the factory.
///
/// The serialized tag (`type`) is the stable name. Adding a variant or changing a variant's
/// fields needs a new [`SCHEMA_VERSION`]: older rows still decode (with an upcast where fields
/// changed), and an older Factory reading a newer log stops with
/// [`StoreError::FutureSchema`] ("upgrade Factory") instead of misreading it.
#[derive(Clone, PartialEq, Serialize, Deserialize, Debug)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A component changed upstream, in the definition, or by hand (`factory rebuild`).
    ChangeDetected {
        component: String,
        reason: String,
        revision: Option<String>,
    },
    /// The affected set of a change and the order to rebuild it in. Creates a wave.
    WavePlanned {
        trigger: String,
        affected: Vec<String>,
        /// Levels of components; each level depends only on earlier ones.
        plan: Vec<Vec<String>>,
    },
    /// Every build of the wave reached a final state.
    WaveFinished {
        wave: WaveId,
        summary: String,
    },
    /// A build was scheduled. Creates a build whose id is this event's sequence number.
    BuildQueued {
        wave: Option<WaveId>,
        component: String,
        /// None for a build that never had a key (blocked before it was prepared, or its
        /// key could not be computed); stored as an empty string, as it always was.
        #[serde(with = "key_or_empty")]
        key: Option<BuildKey>,
        reason: String,
        /// What the key was computed from: input name -> digest or revision (for `factory why`).
        inputs: BTreeMap<String, String>,
    },
    /// A dependency failed; this build will not run in its wave.
    BuildBlocked {
        build: BuildId,
        by: Vec<BuildId>,
        reason: String,
    },
    BuildStarted {
        build: BuildId,
        attempt: u32,
    },
    BuildLog {
        build: BuildId,
        stream: LogStream,
        chunk: String,
    },
    BuildSucceeded {
        build: BuildId,
        outputs: Vec<BuildOutput>,
    },
    BuildFailed {
        build: BuildId,
        reason: String,
        kind: FailureKind,
    },
    BuildCancelled {
        build: BuildId,
        reason: String,
    },
    /// The build key already succeeded in `from`; its outputs are reused, nothing runs.
    BuildReused {
        build: BuildId,
        from: BuildId,
    },
    /// Early cutoff: the inputs turned out identical to those of `previous`, nothing runs.
    BuildCutOff {
        build: BuildId,
        reason: String,
        previous: Option<BuildId>,
    },
    /// A blob was put in the content-addressed store and named.
    ArtifactStored {
        digest: Digest,
        name: String,
        kind: String,
        size: u64,
        build: Option<BuildId>,
    },
    /// An API token was made (an audit record). Never the token nor its hash: events leave
    /// the store (the bus carries them), and the hash would let anyone who reads them check
    /// guesses offline. The token itself lives in the store's token table.
    TokenCreated {
        name: String,
        /// As [`crate::Scope::as_str`] gives it.
        scope: String,
        owners: Vec<String>,
    },
    /// The active API token of this name was revoked (an audit record).
    TokenRevoked {
        name: String,
    },
    /// The server decided whether a caller may do something (an audit record of every
    /// mutating request, allowed or refused).
    AccessDecided {
        /// The token's name, or `anonymous`.
        who: String,
        /// What was asked: `rebuild`, `cancel_wave`, `cancel_build`.
        action: String,
        /// What it was asked of: a component, `w12`, `b34`.
        target: String,
        allowed: bool,
        /// Why, in words (which owner group, which dependency, or what was missing).
        why: String,
    },
    /// A forge told of a push (a webhook delivery with a valid signature).
    WebhookReceived {
        /// `github` (also Forgejo and Gitea) or `gitlab`.
        forge: String,
        /// The forge's delivery id: a redelivery carries the same one.
        delivery: String,
        repository: String,
        /// The ref pushed (`refs/heads/main`).
        git_ref: String,
        /// The commit the ref points to now, when the forge said.
        commit: Option<String>,
        /// The components whose git source the push moved (may be none).
        components: Vec<String>,
    },
    /// A hook of the definition was run for an event (one record per attempt).
    HookRan {
        hook: String,
        /// The event it ran for.
        event_seq: Seq,
        /// That event's topic (`build.failed`): a hook never runs for the outcome of a hook
        /// that ran for a hook's outcome, so hooks on hooks cannot loop.
        topic: String,
        /// 1 for the first try.
        attempt: u32,
        outcome: HookOutcome,
        /// What happened: the exit status or the HTTP status, and the end of the output.
        detail: String,
        duration_ms: u64,
        /// When a failed attempt will be tried again; none once this event is done with
        /// (succeeded, or failed for good).
        retry_in_ms: Option<u64>,
    },
    /// A product stream released a candidate into one of its channels. Releases are
    /// numbered per stream and never change; the compose holds what was released.
    ReleaseMade {
        product: String,
        stream: String,
        channel: String,
        /// 1 for the stream's first release, whatever the channel.
        number: u64,
        /// The digest over the candidate's contents: the same outputs, the same candidate.
        candidate: Digest,
        /// What it ships: each job's output, by job name.
        contents: BTreeMap<String, Digest>,
        /// The compose's id (productmd's form), and where it is, relative to the store.
        compose_id: String,
        compose_path: String,
        /// Who or what released it: the cadence (`on-green`, `schedule`, `after 3d in
        /// testing`) or the token that asked.
        by: String,
        /// Why now, in words (the gate's summary).
        why: String,
    },
    /// A product stream's end of life is near (`warning`) or passed (`ended`).
    StreamEol {
        product: String,
        stream: String,
        /// `warning` or `ended`.
        notice: String,
        /// The stream's end-of-life date, `YYYY-MM-DD`.
        end_of_life: String,
    },
}

impl Event {
    /// Every kind [`Event::kind`] returns, for readers outside this crate that must cover each
    /// one (the bus has a topic and a schema per kind); a unit test holds it to the enum.
    pub const KINDS: &'static [&'static str] = factory_types::topic::EVENT_KINDS;

    /// The stable type name stored in the log (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ChangeDetected { .. } => "change_detected",
            Event::WavePlanned { .. } => "wave_planned",
            Event::WaveFinished { .. } => "wave_finished",
            Event::BuildQueued { .. } => "build_queued",
            Event::BuildBlocked { .. } => "build_blocked",
            Event::BuildStarted { .. } => "build_started",
            Event::BuildLog { .. } => "build_log",
            Event::BuildSucceeded { .. } => "build_succeeded",
            Event::BuildFailed { .. } => "build_failed",
            Event::BuildCancelled { .. } => "build_cancelled",
            Event::BuildReused { .. } => "build_reused",
            Event::BuildCutOff { .. } => "build_cut_off",
            Event::ArtifactStored { .. } => "artifact_stored",
            Event::TokenCreated { .. } => "token_created",
            Event::TokenRevoked { .. } => "token_revoked",
            Event::AccessDecided { .. } => "access_decided",
            Event::WebhookReceived { .. } => "webhook_received",
            Event::HookRan { .. } => "hook_ran",
            Event::ReleaseMade { .. } => "release_made",
            Event::StreamEol { .. } => "stream_eol",
        }
    }

    /// The build an event is about, if any (indexed in the log so a build's events are cheap
    /// to read, e.g. its log while it runs).
    pub fn build(&self) -> Option<BuildId> {
        match self {
            Event::BuildBlocked { build, .. }
            | Event::BuildStarted { build, .. }
            | Event::BuildLog { build, .. }
            | Event::BuildSucceeded { build, .. }
            | Event::BuildFailed { build, .. }
            | Event::BuildCancelled { build, .. }
            | Event::BuildReused { build, .. }
            | Event::BuildCutOff { build, .. } => Some(*build),
            Event::ArtifactStored { build, .. } => *build,
            Event::ChangeDetected { .. }
            | Event::WavePlanned { .. }
            | Event::WaveFinished { .. }
            | Event::BuildQueued { .. }
            | Event::TokenCreated { .. }
            | Event::TokenRevoked { .. }
            | Event::AccessDecided { .. }
            | Event::WebhookReceived { .. }
            | Event::HookRan { .. }
            | Event::ReleaseMade { .. }
            | Event::StreamEol { .. } => None,
        }
    }
}

/// The stored form of an optional build key: the key's hex digits, or an empty string.
mod key_or_empty {
    use factory_types::BuildKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        key: &Option<BuildKey>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match key {
            Some(key) => s.collect_str(key),
            None => s.serialize_str(""),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BuildKey>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        BuildKey::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// An event as read back from the log.
#[derive(Clone, PartialEq, Debug)]
pub struct RecordedEvent {
    pub seq: Seq,
    /// When the batch containing the event was committed (milliseconds since the Unix epoch).
    pub recorded_at_ms: i64,
    pub event: Event,
}

/// The stored form of an event: type name, schema version and JSON body. Backends store
/// exactly these fields; the domain [`Event`] never touches a database row directly.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WireEvent {
    pub kind: String,
    pub schema_version: u32,
    pub body: String,
}

impl WireEvent {
    pub fn encode(event: &Event) -> WireEvent {
        let mut value = serde_json::to_value(event).expect("events serialize to JSON");
        let body = value
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null);
        WireEvent {
            kind: event.kind().to_owned(),
            schema_version: SCHEMA_VERSION,
            body: body.to_string(),
        }
    }

    pub fn decode(&self, seq: Seq) -> Result<Event, StoreError> {
        if self.schema_version > SCHEMA_VERSION {
            return Err(StoreError::FutureSchema {
                seq,
                found: self.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        // Versions 1 to 3 share every payload (2 and 3 only added variants); an upcast from an
        // older version whose payload changed goes here.
        let corrupt = |reason: String| StoreError::CorruptEvent {
            seq,
            kind: self.kind.clone(),
            schema_version: self.schema_version,
            reason,
        };
        let data: serde_json::Value =
            serde_json::from_str(&self.body).map_err(|e| corrupt(e.to_string()))?;
        let tagged = serde_json::json!({ "type": self.kind, "data": data });
        serde_json::from_value(tagged).map_err(|e| corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<Event> {
        let digest = Digest::of(b"x");
        vec![
            Event::ChangeDetected {
                component: "libgreet".into(),
                reason: "upstream".into(),
                revision: Some("abc".into()),
            },
            Event::WavePlanned {
                trigger: "libgreet".into(),
                affected: vec!["libgreet".into(), "hello".into()],
                plan: vec![vec!["libgreet".into()], vec!["hello".into()]],
            },
            Event::WaveFinished {
                wave: WaveId(2),
                summary: "ok".into(),
            },
            Event::BuildQueued {
                wave: Some(WaveId(2)),
                component: "hello".into(),
                key: Some(BuildKey(Digest::of(b"k"))),
                reason: "input changed".into(),
                inputs: BTreeMap::from([("source".into(), "rev1".into())]),
            },
            Event::BuildBlocked {
                build: BuildId(4),
                by: vec![BuildId(3)],
                reason: "dependency failed".into(),
            },
            Event::BuildStarted {
                build: BuildId(4),
                attempt: 1,
            },
            Event::BuildLog {
                build: BuildId(4),
                stream: LogStream::Stderr,
                chunk: "warning\n".into(),
            },
            Event::BuildSucceeded {
                build: BuildId(4),
                outputs: vec![BuildOutput {
                    name: "hello.deb".into(),
                    digest,
                    size: 1,
                }],
            },
            Event::BuildFailed {
                build: BuildId(4),
                reason: "exit 1".into(),
                kind: FailureKind::User,
            },
            Event::BuildCancelled {
                build: BuildId(4),
                reason: "superseded".into(),
            },
            Event::BuildReused {
                build: BuildId(4),
                from: BuildId(1),
            },
            Event::BuildCutOff {
                build: BuildId(4),
                reason: "inputs unchanged".into(),
                previous: None,
            },
            Event::ArtifactStored {
                digest,
                name: "hello.deb".into(),
                kind: "deb".into(),
                size: 1,
                build: Some(BuildId(4)),
            },
        ]
        .into_iter()
        .chain(audit_variants())
        .collect()
    }

    /// The server's audit records.
    fn audit_variants() -> Vec<Event> {
        vec![
            Event::TokenCreated {
                name: "ci".into(),
                scope: "build".into(),
                owners: vec!["infra".into()],
            },
            Event::AccessDecided {
                who: "ci".into(),
                action: "rebuild".into(),
                target: "hello".into(),
                allowed: true,
                why: "owned by infra".into(),
            },
            Event::TokenRevoked { name: "ci".into() },
            Event::AccessDecided {
                who: "ci".into(),
                action: "rebuild".into(),
                target: "hello".into(),
                allowed: true,
                why: "owned by infra".into(),
            },
            Event::WebhookReceived {
                forge: "github".into(),
                delivery: "72d3162e".into(),
                repository: "https://git.example.org/greet.git".into(),
                git_ref: "refs/heads/main".into(),
                commit: Some("9fceb02".into()),
                components: vec!["libgreet".into()],
            },
            Event::HookRan {
                hook: "notify".into(),
                event_seq: Seq(9),
                topic: "build.failed".into(),
                attempt: 1,
                outcome: HookOutcome::Failed,
                detail: "HTTP 503".into(),
                duration_ms: 12,
                retry_in_ms: Some(1000),
            },
            Event::ReleaseMade {
                product: "demo-os".into(),
                stream: "1.0".into(),
                channel: "testing".into(),
                number: 1,
                candidate: Digest::of(b"candidate"),
                contents: [("hello".to_string(), Digest::of(b"hello"))].into(),
                compose_id: "demo-os-1.0-20261203.t.0".into(),
                compose_path: "composes/demo-os-1.0-20261203.t.0".into(),
                by: "on-green".into(),
                why: "All required tests (1 total) have passed or been waived".into(),
            },
            Event::StreamEol {
                product: "demo-os".into(),
                stream: "1.0".into(),
                notice: "warning".into(),
                end_of_life: "2027-12-31".into(),
            },
        ]
    }

    #[test]
    fn kinds_lists_every_variant_once() {
        let made: std::collections::BTreeSet<&str> =
            every_variant().iter().map(Event::kind).collect();
        let listed: std::collections::BTreeSet<&str> = Event::KINDS.iter().copied().collect();
        assert_eq!(made, listed);
        assert_eq!(listed.len(), Event::KINDS.len());
    }

    #[test]
    fn every_variant_round_trips_through_the_wire_form() {
        for event in every_variant() {
            let wire = WireEvent::encode(&event);
            assert_eq!(wire.kind, event.kind());
            assert!(!wire.body.contains("\"type\""), "{}", wire.body);
            assert_eq!(wire.decode(Seq(1)).unwrap(), event);
        }
    }

    #[test]
    fn version_one_rows_still_decode() {
        // Bodies as Factory wrote them before tokens (schema version 1), byte for byte (keys
        // sorted: they go through a JSON value).
        let rows = [
            (
                "build_queued",
                r#"{"component":"hello","inputs":{},"key":"","reason":"first","wave":2}"#,
            ),
            ("build_started", r#"{"attempt":1,"build":4}"#),
            (
                "artifact_stored",
                r#"{"build":null,"digest":"sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881","kind":"deb","name":"hello.deb","size":1}"#,
            ),
        ];
        for (kind, body) in rows {
            let wire = WireEvent {
                kind: kind.into(),
                schema_version: 1,
                body: body.into(),
            };
            let event = wire.decode(Seq(1)).unwrap();
            assert_eq!(event.kind(), kind);
            // Written again today, it keeps its body and gets the current version.
            let again = WireEvent::encode(&event);
            assert_eq!(
                (again.body.as_str(), again.schema_version),
                (body, SCHEMA_VERSION)
            );
        }
    }

    #[test]
    fn unknown_type_and_future_schema_are_typed_errors() {
        let unknown = WireEvent {
            kind: "teleported".into(),
            schema_version: 1,
            body: "{}".into(),
        };
        assert!(matches!(
            unknown.decode(Seq(7)),
            Err(StoreError::CorruptEvent { seq: Seq(7), .. })
        ));
        let future = WireEvent {
            kind: "build_started".into(),
            schema_version: SCHEMA_VERSION + 1,
            body: "{}".into(),
        };
        assert!(matches!(
            future.decode(Seq(8)),
            Err(StoreError::FutureSchema { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}
