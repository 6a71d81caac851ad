//! What the pages show, computed from the store's projections: a wave with the jobs that
//! have no build yet, counts by state, and failures grouped by their root cause.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use factory_store::{
    ArtifactRecord, Backend, BuildId, BuildRecord, BuildState, StoreError, WaveId, WaveRecord,
    WaveState,
};

/// A wave and its builds, in queue order.
pub(crate) struct WaveView {
    pub(crate) wave: WaveRecord,
    pub(crate) builds: Vec<BuildRecord>,
    /// Jobs of the affected set with no build in the wave, in plan order: waiting while
    /// the wave runs; once it finished, found up to date (nothing to record).
    pub(crate) unqueued: Vec<String>,
}

impl WaveView {
    pub(crate) async fn load(db: &dyn Backend, id: u64) -> Result<Option<WaveView>, StoreError> {
        let Some(wave) = db.wave(WaveId(id)).await? else {
            return Ok(None);
        };
        let builds = db.builds_of_wave(WaveId(id)).await?;
        Ok(Some(WaveView::new(wave, builds)))
    }

    pub(crate) fn new(wave: WaveRecord, builds: Vec<BuildRecord>) -> WaveView {
        let queued: HashSet<&str> = builds.iter().map(|b| b.component.as_str()).collect();
        let mut seen = HashSet::new();
        let unqueued = wave
            .plan
            .iter()
            .flatten()
            .chain(wave.affected.iter())
            .filter(|job| !queued.contains(job.as_str()) && seen.insert(job.as_str()))
            .cloned()
            .collect();
        WaveView {
            wave,
            builds,
            unqueued,
        }
    }

    pub(crate) fn running(&self) -> bool {
        self.wave.state == WaveState::Planned
    }

    /// How a job without a build is shown.
    pub(crate) fn unqueued_state(&self) -> &'static str {
        if self.running() {
            "waiting"
        } else {
            "up-to-date"
        }
    }

    /// Jobs by state (`waiting` and `up-to-date` included), every state present.
    pub(crate) fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for build in &self.builds {
            *counts.entry(build.state.as_str()).or_insert(0) += 1;
        }
        if !self.unqueued.is_empty() {
            counts.insert(self.unqueued_state(), self.unqueued.len());
        }
        counts
    }

    /// Jobs in the wave: builds and jobs without one.
    pub(crate) fn total(&self) -> usize {
        self.builds.len() + self.unqueued.len()
    }

    /// Builds that reached a final state.
    pub(crate) fn done(&self) -> usize {
        self.builds
            .iter()
            .filter(|b| !b.state.is_unfinished())
            .count()
    }
}

/// A wave's builds looked up by id and by job, made once per page (a wave may have
/// thousands of builds; rows look things up in it).
pub(crate) struct WaveIndex<'a> {
    pub(crate) view: &'a WaveView,
    by_id: HashMap<BuildId, &'a BuildRecord>,
    by_job: HashMap<&'a str, &'a BuildRecord>,
    unqueued: HashSet<&'a str>,
    /// Builds of the wave running now.
    pub(crate) building: usize,
}

impl<'a> WaveIndex<'a> {
    pub(crate) fn new(view: &'a WaveView) -> WaveIndex<'a> {
        WaveIndex {
            view,
            by_id: view.builds.iter().map(|b| (b.id, b)).collect(),
            // In queue order, so a job built twice maps to its latest build.
            by_job: view
                .builds
                .iter()
                .map(|b| (b.component.as_str(), b))
                .collect(),
            unqueued: view.unqueued.iter().map(String::as_str).collect(),
            building: view
                .builds
                .iter()
                .filter(|b| b.state == BuildState::Building)
                .count(),
        }
    }

    pub(crate) fn build(&self, id: BuildId) -> Option<&'a BuildRecord> {
        self.by_id.get(&id).copied()
    }

    pub(crate) fn job(&self, name: &str) -> Option<&'a BuildRecord> {
        self.by_job.get(name).copied()
    }

    /// In the wave, running, and not queued yet.
    pub(crate) fn is_waiting(&self, name: &str) -> bool {
        self.view.running() && self.unqueued.contains(name)
    }
}

/// A blob a build stored, as a page lists it for download.
pub(crate) struct Stored {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) size: u64,
    pub(crate) digest: String,
}

/// A build's artifacts (with their kinds), then its outputs that are not also artifacts
/// (a `.deb` is often both): each blob once.
pub(crate) fn stored(build: &BuildRecord, artifacts: &[ArtifactRecord]) -> Vec<Stored> {
    let mut seen = HashSet::new();
    let artifacts = artifacts.iter().map(|a| Stored {
        name: a.name.clone(),
        kind: a.kind.clone(),
        size: a.size,
        digest: a.digest.to_string(),
    });
    let outputs = build.outputs.iter().map(|o| Stored {
        name: o.name.clone(),
        kind: "output".into(),
        size: o.size,
        digest: o.digest.to_string(),
    });
    artifacts
        .chain(outputs)
        .filter(|s| seen.insert(s.digest.clone()))
        .collect()
}

/// A failed build and the builds of its wave it blocked.
#[derive(Clone)]
pub(crate) struct RootCause {
    pub(crate) root: BuildRecord,
    /// (build, component), in queue order.
    pub(crate) blocked: Vec<(u64, String)>,
}

/// Failures of one wave grouped by root cause: each failed build with every blocked
/// build whose blocking chain ends at it; the most blocking first.
pub(crate) fn root_causes(builds: &[BuildRecord]) -> Vec<RootCause> {
    let by_id: HashMap<BuildId, &BuildRecord> = builds.iter().map(|b| (b.id, b)).collect();
    let mut groups: BTreeMap<BuildId, RootCause> = builds
        .iter()
        .filter(|b| b.state == BuildState::Failed)
        .map(|b| {
            let group = RootCause {
                root: b.clone(),
                blocked: Vec::new(),
            };
            (b.id, group)
        })
        .collect();
    for build in builds.iter().filter(|b| b.state == BuildState::Blocked) {
        let root = root_in(build, |id| by_id.get(&id).copied());
        if let Some(group) = root.and_then(|r| groups.get_mut(&r.id)) {
            group.blocked.push((build.id.0, build.component.clone()));
        }
    }
    let mut groups: Vec<RootCause> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        b.blocked
            .len()
            .cmp(&a.blocked.len())
            .then(b.root.id.cmp(&a.root.id))
    });
    groups
}

/// Follows a blocked build's blocking builds down to the one that is not blocked itself
/// (the failure at the root); None when the chain leaves what `lookup` knows.
pub(crate) fn root_in<'a>(
    build: &'a BuildRecord,
    lookup: impl Fn(BuildId) -> Option<&'a BuildRecord>,
) -> Option<&'a BuildRecord> {
    let mut current = build;
    // A chain is as long as the graph is deep; the bound only guards against a loop.
    for _ in 0..256 {
        if current.state != BuildState::Blocked {
            return Some(current);
        }
        current = lookup(*current.related.first()?)?;
    }
    None
}

/// The same through the store, for a page that shows one build.
pub(crate) async fn root_of(
    db: &dyn Backend,
    build: &BuildRecord,
) -> Result<Option<BuildRecord>, StoreError> {
    let mut current = build.clone();
    for _ in 0..64 {
        if current.state != BuildState::Blocked {
            return Ok(Some(current));
        }
        let Some(next) = current.related.first() else {
            return Ok(None);
        };
        match db.build(*next).await? {
            Some(next) => current = next,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Root causes of finished waves, which never change: the overview reads each wave's
/// builds once, not on every refresh.
#[derive(Default)]
pub(crate) struct Cache {
    failures: Mutex<HashMap<u64, Arc<Vec<RootCause>>>>,
}

/// Finished waves whose groups are kept; past that the cache starts over.
const CACHED_WAVES: usize = 64;

impl Cache {
    pub(crate) async fn root_causes(
        &self,
        db: &dyn Backend,
        wave: &WaveRecord,
    ) -> Result<Arc<Vec<RootCause>>, StoreError> {
        let finished = wave.state == WaveState::Finished;
        if finished && let Some(groups) = self.lock().get(&wave.id.0) {
            return Ok(groups.clone());
        }
        let builds = db.builds_of_wave(wave.id).await?;
        let groups = Arc::new(root_causes(&builds));
        if finished {
            let mut cache = self.lock();
            if cache.len() >= CACHED_WAVES {
                cache.clear();
            }
            cache.insert(wave.id.0, groups.clone());
        }
        Ok(groups)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Vec<RootCause>>>> {
        // A panic while holding it leaves a map that is still whole.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use factory_store::Seq;

    fn build(id: u64, component: &str, state: BuildState, related: &[u64]) -> BuildRecord {
        BuildRecord {
            id: BuildId(id),
            wave: Some(WaveId(1)),
            component: component.into(),
            key: None,
            state,
            reason: String::new(),
            inputs: BTreeMap::new(),
            outputs: Vec::new(),
            attempt: 0,
            failure_kind: None,
            detail: None,
            related: related.iter().map(|r| BuildId(*r)).collect(),
            log_bytes: 0,
            queued_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            last_seq: Seq(id),
        }
    }

    #[test]
    fn blocked_builds_are_grouped_under_the_failure_at_the_end_of_their_chain() {
        let builds = vec![
            build(2, "libfoo", BuildState::Failed, &[]),
            build(3, "other", BuildState::Failed, &[]),
            build(4, "app", BuildState::Blocked, &[2]),
            build(5, "tool", BuildState::Blocked, &[4]),
            build(6, "fine", BuildState::Succeeded, &[]),
            build(7, "lost", BuildState::Blocked, &[99]),
        ];
        let groups = root_causes(&builds);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].root.component, "libfoo");
        assert_eq!(
            groups[0].blocked,
            vec![(4, "app".to_owned()), (5, "tool".to_owned())]
        );
        assert_eq!(groups[1].root.component, "other");
        assert!(groups[1].blocked.is_empty());
    }

    #[test]
    fn jobs_without_a_build_wait_in_plan_order() {
        let wave = WaveRecord {
            id: WaveId(1),
            trigger: "t".into(),
            affected: vec!["c".into(), "a".into(), "b".into()],
            plan: vec![vec!["a".into()], vec!["b".into(), "c".into()]],
            state: WaveState::Planned,
            summary: None,
            planned_at_ms: 0,
            finished_at_ms: None,
        };
        let view = WaveView::new(wave, vec![build(2, "a", BuildState::Building, &[])]);
        assert_eq!(view.unqueued, vec!["b".to_owned(), "c".to_owned()]);
        assert_eq!(view.counts().get("waiting"), Some(&2));
        assert_eq!((view.total(), view.done()), (3, 0));
    }
}
