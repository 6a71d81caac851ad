//! What the projection queries return: plain domain types, no database rows.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::{BuildOutput, FailureKind};
use factory_types::{BuildId, BuildKey, Digest, LogStream, Seq, WaveId};

/// The state of a build, after the Open Build Service's states.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BuildState {
    /// Queued, waiting for its inputs or a free job slot.
    Scheduled,
    /// A dependency failed; it will not run in its wave.
    Blocked,
    Building,
    Failed,
    Succeeded,
    /// Early cutoff: its inputs were identical to a previous build's, nothing ran.
    Unchanged,
    Cancelled,
    /// Its build key had already succeeded; the outputs were reused, nothing ran.
    Reused,
}

impl BuildState {
    pub const ALL: [BuildState; 8] = [
        BuildState::Scheduled,
        BuildState::Blocked,
        BuildState::Building,
        BuildState::Failed,
        BuildState::Succeeded,
        BuildState::Unchanged,
        BuildState::Cancelled,
        BuildState::Reused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BuildState::Scheduled => "scheduled",
            BuildState::Blocked => "blocked",
            BuildState::Building => "building",
            BuildState::Failed => "failed",
            BuildState::Succeeded => "succeeded",
            BuildState::Unchanged => "unchanged",
            BuildState::Cancelled => "cancelled",
            BuildState::Reused => "reused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        BuildState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Scheduled and building builds still have work to do (e.g. after a crash). Blocked
    /// builds are done for their wave: a later wave queues them again.
    pub fn is_unfinished(self) -> bool {
        matches!(self, BuildState::Scheduled | BuildState::Building)
    }

    /// States whose outputs are valid outputs of the component.
    pub fn has_usable_outputs(self) -> bool {
        matches!(
            self,
            BuildState::Succeeded | BuildState::Reused | BuildState::Unchanged
        )
    }
}

impl fmt::Display for BuildState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One build attempt as the projections know it.
#[derive(Clone, PartialEq, Debug)]
pub struct BuildRecord {
    pub id: BuildId,
    pub wave: Option<WaveId>,
    pub component: String,
    /// None for a build that never had one (blocked, or its key could not be computed).
    pub key: Option<BuildKey>,
    pub state: BuildState,
    /// Why it was queued.
    pub reason: String,
    pub inputs: BTreeMap<String, String>,
    pub outputs: Vec<BuildOutput>,
    /// Number of the last start (0 = never started).
    pub attempt: u32,
    pub failure_kind: Option<FailureKind>,
    /// Why it failed, was cancelled, blocked or cut off.
    pub detail: Option<String>,
    /// Blocking builds (blocked), the build reused (reused) or the previous build (unchanged).
    pub related: Vec<BuildId>,
    pub log_bytes: u64,
    pub queued_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    /// The last event that changed this build.
    pub last_seq: Seq,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaveState {
    Planned,
    Finished,
}

#[derive(Clone, PartialEq, Debug)]
pub struct WaveRecord {
    pub id: WaveId,
    pub trigger: String,
    pub affected: Vec<String>,
    pub plan: Vec<Vec<String>>,
    pub state: WaveState,
    pub summary: Option<String>,
    pub planned_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Debug)]
pub struct ArtifactRecord {
    /// Sequence number of the `ArtifactStored` event.
    pub id: Seq,
    pub digest: Digest,
    pub name: String,
    pub kind: String,
    pub size: u64,
    pub build: Option<BuildId>,
}

/// What the store knows about a component.
#[derive(Clone, PartialEq, Debug)]
pub struct ComponentRecord {
    pub name: String,
    /// Revision from the last change, when the change named one.
    pub revision: Option<String>,
    pub last_change_reason: Option<String>,
    pub last_change: Option<Seq>,
    pub latest_build: Option<BuildRecord>,
    /// The latest build whose outputs are usable (succeeded, reused or unchanged).
    pub latest_success: Option<BuildRecord>,
}

/// A piece of a build's log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogChunk {
    pub seq: Seq,
    pub stream: LogStream,
    pub chunk: String,
}

/// What an API token may do. The order is meaningful: a scope allows everything the scopes
/// below it allow (`Read < Build < Admin`), so a check is `token.scope >= needed`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Scope {
    /// Read what the store shows.
    Read,
    /// Read, and rebuild what the token's owners own.
    Build,
    /// Anything.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Build, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Build => "build",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API token as the store knows it: never the token itself, nor its hash (which only
/// [`crate::Tokens::token_by_hash`] takes, to find the record).
#[derive(Clone, PartialEq, Debug)]
pub struct TokenRecord {
    pub name: String,
    pub scope: Scope,
    /// The groups whose components the token acts for (what a build token may rebuild).
    pub owners: Vec<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl TokenRecord {
    /// Not revoked: the token is accepted.
    pub fn is_active(&self) -> bool {
        self.revoked_at_ms.is_none()
    }
}

/// One release of a product stream (a `release_made` event).
#[derive(Clone, PartialEq, Debug)]
pub struct ReleaseRecord {
    pub product: String,
    pub stream: String,
    pub number: u64,
    pub channel: String,
    pub candidate: Digest,
    pub contents: BTreeMap<String, Digest>,
    pub compose_id: String,
    pub compose_path: String,
    pub by: String,
    pub why: String,
    pub released_at_ms: i64,
    /// Sequence number of its event.
    pub seq: Seq,
}
