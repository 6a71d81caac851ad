//! After a crash: what the log says about a wave that never finished, and what to write so
//! that it is finished and its affected set runs again in a new wave. Pure: the engine
//! reads the records and appends the events.

use factory_store::{BuildRecord, Event, WaveRecord};
use factory_types::Job;

use crate::plan::JobGraph;

/// The events that close an interrupted wave: its unfinished builds cancelled (with why),
/// then the wave finished.
pub(crate) fn closing_events(wave: &WaveRecord, builds: &[BuildRecord]) -> Vec<Event> {
    let mut events: Vec<Event> = builds
        .iter()
        .filter(|build| build.state.is_unfinished())
        .map(|build| Event::BuildCancelled {
            build: build.id,
            reason: format!(
                "interrupted: the factory stopped while the build was {}; wave {} is resumed",
                build.state, wave.id
            ),
        })
        .collect();
    events.push(Event::WaveFinished {
        wave: wave.id,
        summary: "interrupted; resumed in a new wave".into(),
    });
    events
}

/// The jobs of an interrupted wave that the definition still has: they run again (what
/// already succeeded is reused by key, never run again).
pub(crate) fn jobs_to_resume(wave: &WaveRecord, graph: &JobGraph) -> Vec<Job> {
    wave.affected
        .iter()
        .map(|name| Job::parse(name))
        .filter(|job| graph.contains(job))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use factory_store::{BuildId, BuildState, Seq, WaveId, WaveState};

    use super::*;

    fn build(id: u64, component: &str, state: BuildState) -> BuildRecord {
        BuildRecord {
            id: BuildId(id),
            wave: Some(WaveId(3)),
            component: component.into(),
            key: None,
            state,
            reason: String::new(),
            inputs: BTreeMap::new(),
            outputs: Vec::new(),
            attempt: 0,
            failure_kind: None,
            detail: None,
            related: Vec::new(),
            log_bytes: 0,
            queued_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            last_seq: Seq(id),
        }
    }

    fn wave(affected: &[&str]) -> WaveRecord {
        WaveRecord {
            id: WaveId(3),
            trigger: "source changed: lib".into(),
            affected: affected.iter().map(|s| s.to_string()).collect(),
            plan: Vec::new(),
            state: WaveState::Planned,
            summary: None,
            planned_at_ms: 0,
            finished_at_ms: None,
        }
    }

    #[test]
    fn an_interrupted_wave_cancels_what_was_unfinished_and_finishes() {
        let builds = [
            build(4, "lib", BuildState::Succeeded),
            build(5, "app", BuildState::Building),
            build(6, "tool", BuildState::Scheduled),
            build(7, "doc", BuildState::Blocked),
        ];
        let events = closing_events(&wave(&["lib", "app", "tool", "doc"]), &builds);
        let cancelled: Vec<BuildId> = events
            .iter()
            .filter_map(|e| match e {
                Event::BuildCancelled { build, reason } => {
                    assert!(reason.contains("wave w3 is resumed"), "{reason}");
                    Some(*build)
                }
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, [BuildId(5), BuildId(6)]);
        assert!(matches!(
            events.last(),
            Some(Event::WaveFinished {
                wave: WaveId(3),
                ..
            })
        ));
    }

    #[test]
    fn only_jobs_the_definition_still_has_are_resumed() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("factory.toml"),
            "[component.lib]\nkind = \"command\"\ncommands = [\"true\"]\n",
        )
        .unwrap();
        let def = factory_def::load(dir.path()).unwrap();
        let graph = JobGraph::new(Arc::new(def)).unwrap();
        let jobs = jobs_to_resume(&wave(&["lib", "gone", "image:base"]), &graph);
        assert_eq!(jobs, [Job::Component("lib".into())]);
    }
}
