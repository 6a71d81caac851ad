//! Why a build is in the state it is, down to the root cause, and what a running wave
//! still has to do: the words and the structure behind the API's `why`, a wave's failure
//! groups and its forecast. Pure functions over the store's records and the job graph, so
//! every rule here is tested without a store.

use std::collections::{BTreeMap, HashMap, HashSet};

use factory_store::{BuildId, BuildRecord, BuildState, WaveId, WaveRecord};
use factory_types::Job;

use crate::plan::JobGraph;

/// One reason, machine-readable; [`Why::summary`] says the first in words.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// An input of the job is built in the same wave and has not finished.
    WaitingForInput {
        input: String,
        build: Option<BuildId>,
        state: Option<BuildState>,
    },
    /// Everything it needs is there, and every slot is taken by these builds.
    NoFreeSlot {
        holders: Vec<BuildId>,
        slots: usize,
    },
    /// Everything it needs is there and a slot is free: it starts in a moment.
    Ready,
    /// Its wave was interrupted (crash, Ctrl-C) and resumes on the next `factory up`.
    Interrupted {
        wave: WaveId,
    },
    /// A failure upstream: `root` is the failed build it comes down to, through `path`
    /// (from this build's direct blocker down to the root).
    BlockedBy {
        root: BuildId,
        root_component: String,
        root_detail: Option<String>,
        path: Vec<BuildId>,
    },
    /// Its key had already succeeded in `from`; nothing ran.
    Reused {
        from: BuildId,
    },
    /// Early cutoff: its inputs came out identical, so its key is a previous build's.
    CutOff {
        detail: String,
        previous: Option<BuildId>,
    },
    /// Its work is running.
    Running {
        since_ms: i64,
        attempt: u32,
    },
    /// It ran (or runs) because of this: the reason it was queued with.
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

/// Why a build is where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Why {
    pub summary: String,
    pub reasons: Vec<Reason>,
}

/// What the answer is computed from: the build's wave, the graph, and what runs now.
pub struct Context<'a> {
    /// Every build of the build's wave (its own included).
    pub wave_builds: &'a [BuildRecord],
    /// The wave's affected set: its jobs, queued or not yet (a job is queued once its
    /// inputs in the wave have succeeded).
    pub affected: &'a [String],
    /// The definition's jobs, when known (without it, inputs are not named).
    pub graph: Option<&'a JobGraph>,
    /// Builds in state `building`, in every wave.
    pub building: &'a [BuildRecord],
    /// The `--jobs` slots, when known.
    pub slots: Option<usize>,
    /// Whether the build's wave is the one running now.
    pub wave_running: bool,
}

/// Why `build` is in its state.
pub fn why(build: &BuildRecord, context: &Context<'_>) -> Why {
    let mut reasons = match build.state {
        BuildState::Scheduled => waiting(&build.component, build.wave, context),
        BuildState::Blocked => blocked(build, context.wave_builds),
        BuildState::Reused => vec![Reason::Reused {
            from: build.related.first().copied().unwrap_or(build.id),
        }],
        BuildState::Unchanged => vec![Reason::CutOff {
            detail: build.detail.clone().unwrap_or_default(),
            previous: build.related.first().copied(),
        }],
        BuildState::Building => vec![Reason::Running {
            since_ms: build.started_at_ms.unwrap_or(build.queued_at_ms),
            attempt: build.attempt,
        }],
        BuildState::Failed => vec![Reason::Failed {
            detail: build.detail.clone().unwrap_or_default(),
            infrastructure: build.failure_kind.is_some_and(|k| k.is_infrastructure()),
        }],
        BuildState::Cancelled => vec![Reason::Cancelled {
            detail: build.detail.clone().unwrap_or_default(),
        }],
        BuildState::Succeeded => Vec::new(),
    };
    reasons.push(Reason::Queued {
        reason: build.reason.clone(),
    });
    let summary = summarise(&build.component, &reasons[0]);
    Why { summary, reasons }
}

/// Why a job of a wave has no build yet: the inputs it waits for (it is queued once they
/// have succeeded), or that its wave stopped.
pub fn why_pending(job: &str, wave: WaveId, context: &Context<'_>) -> Why {
    let reasons = waiting(job, Some(wave), context);
    let summary = match &reasons[0] {
        Reason::Ready => format!("{job} is about to be queued"),
        first => summarise(job, first),
    };
    Why { summary, reasons }
}

/// A scheduled build: the inputs it waits for, else the slots, else nothing.
fn waiting(job: &str, wave: Option<WaveId>, context: &Context<'_>) -> Vec<Reason> {
    if !context.wave_running
        && let Some(wave) = wave
    {
        return vec![Reason::Interrupted { wave }];
    }
    let by_component: HashMap<&str, &BuildRecord> = context
        .wave_builds
        .iter()
        .map(|b| (b.component.as_str(), b))
        .collect();
    let in_wave: HashSet<&str> = context.affected.iter().map(String::as_str).collect();
    let job = Job::parse(job);
    let inputs = context
        .graph
        .and_then(|g| g.inputs(&job).ok())
        .map(|i| i.values().map(Job::name).collect::<Vec<_>>())
        .unwrap_or_default();
    let waiting: Vec<Reason> = inputs
        .iter()
        .filter_map(|input| match by_component.get(input.as_str()) {
            Some(of_input) => of_input
                .state
                .is_unfinished()
                .then(|| Reason::WaitingForInput {
                    input: input.clone(),
                    build: Some(of_input.id),
                    state: Some(of_input.state),
                }),
            // In the wave and not queued yet: it waits for its own inputs.
            None => in_wave
                .contains(input.as_str())
                .then(|| Reason::WaitingForInput {
                    input: input.clone(),
                    build: None,
                    state: None,
                }),
        })
        .collect();
    if !waiting.is_empty() {
        return waiting;
    }
    match context.slots {
        Some(slots) if context.building.len() >= slots => vec![Reason::NoFreeSlot {
            holders: context.building.iter().map(|b| b.id).collect(),
            slots,
        }],
        _ => vec![Reason::Ready],
    }
}

/// A blocked build: the failed builds it comes down to, following who blocked whom.
fn blocked(build: &BuildRecord, wave_builds: &[BuildRecord]) -> Vec<Reason> {
    let by_id: HashMap<BuildId, &BuildRecord> = wave_builds.iter().map(|b| (b.id, b)).collect();
    let mut found = roots(build, &by_id);
    if found.is_empty() {
        // Blockers that lead back to this build (a damaged record): name the direct ones.
        found = build.related.iter().map(|b| (*b, vec![*b])).collect();
    }
    found
        .into_iter()
        .map(|(root, path)| {
            let record = by_id.get(&root);
            Reason::BlockedBy {
                root,
                root_component: record.map(|r| r.component.clone()).unwrap_or_default(),
                root_detail: record.and_then(|r| r.detail.clone()),
                path,
            }
        })
        .collect()
}

/// The builds at the bottom of `build`'s blockers (failed, or unknown to the wave), each
/// with the path to it. Depth first, each build visited once: a record that points in a
/// circle cannot loop.
fn roots(
    build: &BuildRecord,
    by_id: &HashMap<BuildId, &BuildRecord>,
) -> Vec<(BuildId, Vec<BuildId>)> {
    let mut found = Vec::new();
    let mut seen = HashSet::from([build.id]);
    let mut stack: Vec<(BuildId, Vec<BuildId>)> =
        build.related.iter().rev().map(|b| (*b, vec![*b])).collect();
    while let Some((id, path)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match by_id.get(&id) {
            Some(record) if record.state == BuildState::Blocked && !record.related.is_empty() => {
                for next in record.related.iter().rev() {
                    let mut longer = path.clone();
                    longer.push(*next);
                    stack.push((*next, longer));
                }
            }
            _ => found.push((id, path)),
        }
    }
    found
}

fn summarise(name: &str, first: &Reason) -> String {
    match first {
        Reason::WaitingForInput {
            input,
            build: b,
            state,
        } => {
            let what = match (b, state) {
                (Some(b), Some(s)) => format!(" ({b}, {s})"),
                _ => " (not queued yet)".to_owned(),
            };
            format!("{name} waits for {input}{what}")
        }
        Reason::NoFreeSlot { holders, slots } => format!(
            "{name} is ready and waits for a slot: all {slots} are taken ({})",
            list(holders)
        ),
        Reason::Ready => format!("{name} is ready and starts as soon as it is dispatched"),
        Reason::Interrupted { wave } => format!(
            "{name} waits: its wave {wave} was interrupted and resumes on the next `factory up`"
        ),
        Reason::BlockedBy {
            root,
            root_component,
            ..
        } => {
            format!("{name} is blocked: {root_component} failed ({root})")
        }
        Reason::Reused { from } => {
            format!("{name} did not run: its key already succeeded in {from}")
        }
        Reason::CutOff { previous, .. } => match previous {
            Some(p) => format!("{name} did not run: early cutoff, its inputs are as in {p}"),
            None => format!("{name} did not run: early cutoff"),
        },
        Reason::Running { attempt, .. } => format!("{name} is building (attempt {attempt})"),
        Reason::Failed { detail, .. } => format!("{name} failed: {detail}"),
        Reason::Cancelled { detail } => format!("{name} was cancelled: {detail}"),
        Reason::Queued { reason } => format!("{name}: {reason}"),
    }
}

fn list(builds: &[BuildId]) -> String {
    let shown: Vec<String> = builds.iter().take(8).map(BuildId::to_string).collect();
    match builds.len() {
        n if n > 8 => format!("{} and {} more", shown.join(", "), n - 8),
        _ => shown.join(", "),
    }
}

/// One failed build and the builds of its wave it blocked (directly or not).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureGroup {
    pub root: BuildId,
    pub component: String,
    pub detail: Option<String>,
    pub infrastructure: bool,
    pub blocked: Vec<BuildId>,
}

/// The wave's failures, each with what it blocked, the largest group first: "libfoo
/// failed: 312 builds blocked" instead of 313 red lines.
pub fn failure_groups(wave_builds: &[BuildRecord]) -> Vec<FailureGroup> {
    let by_id: HashMap<BuildId, &BuildRecord> = wave_builds.iter().map(|b| (b.id, b)).collect();
    let mut blocked_by_root: BTreeMap<BuildId, Vec<BuildId>> = BTreeMap::new();
    for build in wave_builds
        .iter()
        .filter(|b| b.state == BuildState::Blocked)
    {
        for (root, _) in roots(build, &by_id) {
            blocked_by_root.entry(root).or_default().push(build.id);
        }
    }
    let mut groups: Vec<FailureGroup> = wave_builds
        .iter()
        .filter(|b| b.state == BuildState::Failed)
        .map(|failed| FailureGroup {
            root: failed.id,
            component: failed.component.clone(),
            detail: failed.detail.clone(),
            infrastructure: failed.failure_kind.is_some_and(|k| k.is_infrastructure()),
            blocked: blocked_by_root.remove(&failed.id).unwrap_or_default(),
        })
        .collect();
    groups.sort_by(|a, b| {
        b.blocked
            .len()
            .cmp(&a.blocked.len())
            .then(a.root.cmp(&b.root))
    });
    groups
}

/// When a running wave is expected to end.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Expected milliseconds until the last build ends.
    pub remaining_ms: u64,
    pub expected_finish_ms: i64,
    /// The chain of unfinished jobs that takes longest, first to last.
    pub critical_path: Vec<String>,
    /// Unfinished builds whose duration comes from their history; the others are guessed
    /// (the typical duration of those that have one).
    pub from_history: usize,
    pub guessed: usize,
}

/// The forecast of a wave from its builds, the graph, how long each component's builds took
/// last time (`history`, ms) and the slots: the longer of its critical path and its
/// remaining work spread over the slots.
pub fn forecast(
    wave: &WaveRecord,
    wave_builds: &[BuildRecord],
    graph: &JobGraph,
    history: &HashMap<String, u64>,
    slots: usize,
    now_ms: i64,
) -> Forecast {
    let typical = typical_ms(wave_builds, history);
    let queued: HashSet<&str> = wave_builds.iter().map(|b| b.component.as_str()).collect();
    // Jobs still to finish: unfinished builds (with how long they have run), and jobs of
    // the affected set not queued yet (they wait for their inputs).
    let mut todo: Vec<(&str, u64)> = wave_builds
        .iter()
        .filter(|b| b.state.is_unfinished())
        .map(|b| {
            let elapsed = match (b.state, b.started_at_ms) {
                (BuildState::Building, Some(start)) => (now_ms - start).max(0) as u64,
                _ => 0,
            };
            (b.component.as_str(), elapsed)
        })
        .collect();
    todo.extend(
        wave.affected
            .iter()
            .filter(|j| !queued.contains(j.as_str()))
            .map(|j| (j.as_str(), 0)),
    );
    let mut remaining: HashMap<Job, u64> = HashMap::new();
    let mut from_history = 0;
    for (component, elapsed) in &todo {
        let known = history.get(*component).copied();
        from_history += usize::from(known.is_some());
        let whole = known.unwrap_or(typical);
        // A build past its usual time is expected to end soon, not to have ended.
        let left = whole.saturating_sub(*elapsed).max(whole / 10).max(1);
        remaining.insert(Job::parse(component), left);
    }
    let (path_ms, critical_path) = longest_chain(graph, &remaining);
    let work: u64 = remaining.values().sum();
    let spread = work / slots.max(1) as u64;
    let remaining_ms = path_ms.max(spread);
    Forecast {
        remaining_ms,
        expected_finish_ms: now_ms + remaining_ms as i64,
        critical_path,
        from_history,
        guessed: todo.len() - from_history,
    }
}

/// The typical duration: the median of what this wave's finished builds took and the
/// history knows; one second when nothing is known.
fn typical_ms(wave_builds: &[BuildRecord], history: &HashMap<String, u64>) -> u64 {
    let mut known: Vec<u64> = wave_builds
        .iter()
        .filter_map(|b| Some((b.finished_at_ms? - b.started_at_ms?).max(1) as u64))
        .chain(history.values().copied())
        .collect();
    if known.is_empty() {
        return 1000;
    }
    known.sort_unstable();
    known[known.len() / 2]
}

/// The longest chain through `remaining` (jobs with their remaining time) along the
/// graph's inputs, and its jobs in order.
fn longest_chain(graph: &JobGraph, remaining: &HashMap<Job, u64>) -> (u64, Vec<String>) {
    let set: Vec<Job> = remaining.keys().cloned().collect();
    let mut best: HashMap<&Job, (u64, Option<&Job>)> = HashMap::new();
    for job in graph.topological(&set) {
        let before = graph
            .inputs(job)
            .into_iter()
            .flat_map(|i| i.values())
            .filter_map(|input| best.get_key_value(input).map(|(k, v)| (*k, v.0)))
            .max_by_key(|(_, ms)| *ms);
        let own = remaining[job];
        let entry = match before {
            Some((input, ms)) => (ms + own, Some(input)),
            None => (own, None),
        };
        best.insert(job, entry);
    }
    let Some((mut at, (total, _))) = best.iter().max_by_key(|(_, v)| v.0).map(|(k, v)| (*k, *v))
    else {
        return (0, Vec::new());
    };
    let mut path = vec![at.name()];
    while let Some((_, Some(previous))) = best.get(at) {
        path.push(previous.name());
        at = previous;
    }
    path.reverse();
    (total, path)
}

#[cfg(test)]
mod tests;
