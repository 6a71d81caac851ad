use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use factory_store::{BuildId, BuildRecord, BuildState, FailureKind, Seq, WaveId, WaveRecord};

use super::*;
use crate::plan::JobGraph;

/// lib → app → tool, and a lone `other`.
fn graph() -> JobGraph {
    let dir = tempfile::tempdir().unwrap();
    let component = |name: &str, requires: &str| {
        format!(
            "[component.{name}]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [{requires}]\n"
        )
    };
    let text = [
        component("lib", ""),
        component("app", "\"lib\""),
        component("tool", "\"app\""),
        component("other", ""),
    ]
    .concat();
    fs_err::write(dir.path().join("factory.toml"), text).unwrap();
    JobGraph::new(Arc::new(factory_def::load(dir.path()).unwrap())).unwrap()
}

fn build(id: u64, component: &str, state: BuildState) -> BuildRecord {
    BuildRecord {
        id: BuildId(id),
        wave: Some(WaveId(1)),
        component: component.into(),
        key: None,
        state,
        reason: "source changed".into(),
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

fn context<'a>(
    wave: &'a [BuildRecord],
    graph: &'a JobGraph,
    building: &'a [BuildRecord],
) -> Context<'a> {
    Context {
        wave_builds: wave,
        affected: &[],
        graph: Some(graph),
        building,
        slots: Some(1),
        wave_running: true,
    }
}

#[test]
fn a_waiting_build_names_the_unfinished_input_it_waits_for() {
    let graph = graph();
    let wave = [
        build(2, "lib", BuildState::Building),
        build(3, "app", BuildState::Scheduled),
    ];
    let why = why(&wave[1], &context(&wave, &graph, &wave[..1]));
    assert_eq!(
        why.reasons[0],
        Reason::WaitingForInput {
            input: "lib".into(),
            build: Some(BuildId(2)),
            state: Some(BuildState::Building)
        }
    );
    assert_eq!(why.summary, "app waits for lib (b2, building)");
}

#[test]
fn a_ready_build_waits_for_a_slot_and_names_who_holds_them() {
    let graph = graph();
    let wave = [
        build(2, "lib", BuildState::Succeeded),
        build(3, "app", BuildState::Scheduled),
        build(4, "other", BuildState::Building),
    ];
    let why_app = why(&wave[1], &context(&wave, &graph, &wave[2..]));
    assert_eq!(
        why_app.reasons[0],
        Reason::NoFreeSlot {
            holders: vec![BuildId(4)],
            slots: 1
        }
    );
    assert!(
        why_app.summary.contains("all 1 are taken (b4)"),
        "{}",
        why_app.summary
    );
    let free = why(&wave[1], &context(&wave, &graph, &[]));
    assert_eq!(free.reasons[0], Reason::Ready);
    let mut stopped = context(&wave, &graph, &[]);
    stopped.wave_running = false;
    assert_eq!(
        why(&wave[1], &stopped).reasons[0],
        Reason::Interrupted { wave: WaveId(1) }
    );
}

#[test]
fn a_blocked_build_comes_down_to_the_root_failure_not_the_nearest_blocker() {
    let graph = graph();
    let mut lib = build(2, "lib", BuildState::Failed);
    lib.detail = Some("exit status 2".into());
    lib.failure_kind = Some(FailureKind::User);
    let mut app = build(3, "app", BuildState::Blocked);
    app.related = vec![BuildId(2)];
    let mut tool = build(4, "tool", BuildState::Blocked);
    tool.related = vec![BuildId(3)];
    let wave = [lib, app, tool, build(5, "other", BuildState::Succeeded)];
    let why = why(&wave[2], &context(&wave, &graph, &[]));
    assert_eq!(
        why.reasons[0],
        Reason::BlockedBy {
            root: BuildId(2),
            root_component: "lib".into(),
            root_detail: Some("exit status 2".into()),
            path: vec![BuildId(3), BuildId(2)],
        }
    );
    assert_eq!(why.summary, "tool is blocked: lib failed (b2)");
    let groups = failure_groups(&wave);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].root, BuildId(2));
    assert_eq!(groups[0].blocked, vec![BuildId(3), BuildId(4)]);
}

#[test]
fn blockers_that_point_in_a_circle_end() {
    let graph = graph();
    let mut a = build(3, "app", BuildState::Blocked);
    a.related = vec![BuildId(4)];
    let mut b = build(4, "tool", BuildState::Blocked);
    b.related = vec![BuildId(3)];
    let wave = [a, b];
    let why = why(&wave[0], &context(&wave, &graph, &[]));
    assert!(
        matches!(why.reasons[0], Reason::BlockedBy { .. }),
        "{why:?}"
    );
}

#[test]
fn the_forecast_is_the_longer_of_the_critical_path_and_the_work_over_the_slots() {
    let graph = graph();
    let mut lib = build(2, "lib", BuildState::Building);
    lib.started_at_ms = Some(1_000);
    // tool is not queued yet: it waits for app.
    let wave = [
        lib,
        build(3, "app", BuildState::Scheduled),
        build(5, "other", BuildState::Scheduled),
    ];
    let record = WaveRecord {
        id: WaveId(1),
        trigger: "source changed".into(),
        affected: ["lib", "app", "tool", "other"].map(String::from).to_vec(),
        plan: Vec::new(),
        state: factory_store::WaveState::Planned,
        summary: None,
        planned_at_ms: 0,
        finished_at_ms: None,
    };
    let history: HashMap<String, u64> = [
        ("lib", 10_000),
        ("app", 5_000),
        ("tool", 1_000),
        ("other", 2_000),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // lib has run 4 s of its 10: 6 + 5 + 1 = 12 s along the chain; 14 s of work on 4 slots.
    let wide = forecast(&record, &wave, &graph, &history, 4, 5_000);
    assert_eq!(wide.remaining_ms, 12_000);
    assert_eq!(wide.critical_path, ["lib", "app", "tool"]);
    assert_eq!(wide.expected_finish_ms, 17_000);
    assert_eq!((wide.from_history, wide.guessed), (4, 0));
    // On one slot the work is the bound: 6 + 5 + 1 + 2.
    let narrow = forecast(&record, &wave, &graph, &history, 1, 5_000);
    assert_eq!(narrow.remaining_ms, 14_000);
    // Without history, each takes the typical duration.
    let guessed = forecast(&record, &wave, &graph, &HashMap::new(), 4, 5_000);
    assert_eq!(guessed.guessed, 4);
    assert!(guessed.remaining_ms > 0);
}

#[test]
fn a_job_not_queued_yet_waits_for_its_inputs_queued_or_not() {
    let graph = graph();
    let wave = [build(2, "lib", BuildState::Building)];
    let affected = ["lib".to_owned(), "app".to_owned(), "tool".to_owned()];
    let mut context = context(&wave, &graph, &wave);
    context.affected = &affected;
    let app = why_pending("app", WaveId(1), &context);
    assert_eq!(app.summary, "app waits for lib (b2, building)");
    let tool = why_pending("tool", WaveId(1), &context);
    assert_eq!(
        tool.reasons[0],
        Reason::WaitingForInput {
            input: "app".into(),
            build: None,
            state: None
        }
    );
    assert_eq!(tool.summary, "tool waits for app (not queued yet)");
}
