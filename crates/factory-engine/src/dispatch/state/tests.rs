//! The wave's rules, driven by scripted events: no process, no store, no runtime.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use factory_types::ManualClock;

use super::*;

fn job(name: &str) -> Job {
    Job::Component(name.to_owned())
}

/// A wave over `edges` (job, its inputs); every job named anywhere is in the set.
fn wave(edges: &[(&str, &[&str])], limit: usize) -> Dispatcher<u32> {
    wave_timed(edges, limit, &HashMap::new())
}

fn wave_timed(
    edges: &[(&str, &[&str])],
    limit: usize,
    times: &HashMap<Job, u64>,
) -> Dispatcher<u32> {
    let set: Vec<Job> = edges.iter().map(|(name, _)| job(name)).collect();
    let inputs: HashMap<Job, Vec<Job>> = edges
        .iter()
        .map(|(name, inputs)| (job(name), inputs.iter().map(|i| job(i)).collect()))
        .collect();
    let clock = ManualClock::at(UNIX_EPOCH);
    Dispatcher::new(&set, |j| inputs[j].clone(), times, limit, &clock)
}

/// The jobs of the `Dispatch` commands, in order.
fn dispatched(commands: &[Command<u32>]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch { job, .. } => Some(job.name()),
            _ => None,
        })
        .collect()
}

const CHAIN_BESIDE_SINGLES: &[(&str, &[&str])] = &[
    ("x", &[]),
    ("a", &[]),
    ("b", &["a"]),
    ("c", &["b"]),
    ("y", &[]),
];

#[test]
fn the_longest_chain_goes_first_and_equals_go_by_name() {
    let mut wave = wave(CHAIN_BESIDE_SINGLES, 1);
    assert_eq!(dispatched(&wave.dispatch()), ["a"]);
    assert_eq!(wave.priority_of(&job("a")).0, 3);
    wave.handle(Input::Ended(job("a"), Ending::Usable(1)));
    // b (height 2) before x and y (height 1); x before y by name.
    assert_eq!(dispatched(&wave.dispatch()), ["b"]);
    wave.handle(Input::Ended(job("b"), Ending::Usable(2)));
    assert_eq!(dispatched(&wave.dispatch()), ["c"]);
    wave.handle(Input::Ended(job("c"), Ending::Usable(3)));
    assert_eq!(dispatched(&wave.dispatch()), ["x"]);
    wave.handle(Input::Ended(job("x"), Ending::Usable(4)));
    assert_eq!(dispatched(&wave.dispatch()), ["y"]);
    assert!(!wave.is_over());
    wave.handle(Input::Ended(job("y"), Ending::Usable(5)));
    assert!(wave.dispatch().is_empty());
    assert!(wave.is_over());
}

#[test]
fn with_run_times_the_chain_that_takes_longest_goes_first() {
    let times = HashMap::from([
        (job("a"), 10),
        (job("b"), 10),
        (job("c"), 10),
        (job("x"), 500),
    ]);
    let mut wave = wave_timed(CHAIN_BESIDE_SINGLES, 1, &times);
    // x alone takes 500 ms, the chain a-b-c 30 ms; y has no time and weighs the median.
    assert_eq!(dispatched(&wave.dispatch()), ["x"]);
    assert_eq!(wave.priority_of(&job("y")).0, 10);
}

#[test]
fn at_most_limit_tasks_run_and_released_ones_do_not_count() {
    let mut wave = wave(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])], 2);
    assert_eq!(dispatched(&wave.dispatch()), ["a", "b"]);
    assert!(wave.dispatch().is_empty(), "both slots taken");
    // A released build only records now: the next job may go.
    wave.handle(Input::Released(job("a"), 1));
    assert_eq!(dispatched(&wave.dispatch()), ["c"]);
    wave.handle(Input::Ended(job("b"), Ending::Usable(2)));
    assert_eq!(dispatched(&wave.dispatch()), ["d"]);
    for name in ["a", "c", "d"] {
        wave.handle(Input::Ended(job(name), Ending::Usable(0)));
    }
    assert!(wave.is_over());
}

#[test]
fn a_build_whose_work_is_done_claims_slots_for_what_it_makes_ready() {
    let mut wave = wave(
        &[("a", &[]), ("b", &["a"]), ("c", &["a", "z"]), ("z", &[])],
        4,
    );
    assert_eq!(dispatched(&wave.dispatch()), ["a", "z"]);
    let claims = wave.handle(Input::WorkDone(job("a")));
    // b waits only for a; c waits for z too, so it claims nothing yet.
    assert_eq!(
        claims,
        [Command::Claim {
            job: job("b"),
            priority: wave.priority_of(&job("b")),
        }]
    );
    wave.handle(Input::Released(job("a"), 7));
    let commands = wave.dispatch();
    let [
        Command::Dispatch {
            job: b,
            early_claim,
            inputs,
            ..
        },
    ] = &commands[..]
    else {
        panic!("b is dispatched alone: {commands:?}");
    };
    assert_eq!((b, *early_claim), (&job("b"), true));
    assert_eq!(inputs, &BTreeMap::from([(job("a"), 7)]));
}

#[test]
fn a_failure_blocks_every_job_downstream_once_and_drops_their_claims() {
    let mut wave = wave(
        &[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["a", "b"]),
            ("e", &[]),
        ],
        4,
    );
    assert_eq!(dispatched(&wave.dispatch()), ["a", "e"]);
    wave.handle(Input::WorkDone(job("a")));
    let commands = wave.handle(Input::Ended(job("a"), Ending::Failed));
    let blocked: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Block { job, by } => Some((job.name(), by.name())),
            _ => None,
        })
        .collect();
    let mut names: Vec<&str> = blocked.iter().map(|(j, _)| j.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["b", "c", "d"]);
    assert!(blocked.iter().all(|(_, by)| by == "a"));
    assert!(
        commands.contains(&Command::DropClaim(job("b"))),
        "b had claimed early"
    );
    assert!(wave.dispatch().is_empty());
    wave.handle(Input::Ended(job("e"), Ending::Usable(1)));
    assert!(!wave.is_over(), "the blocked jobs are still being recorded");
    for name in ["b", "c", "d"] {
        wave.handle(Input::BlockRecorded(job(name)));
    }
    assert!(wave.is_over());
}

#[test]
fn a_release_seen_after_its_task_ended_changes_nothing() {
    // The race fixed in the engine issue: the end of a task observed before the release
    // it sent. Its dependents must start once, and nothing may be finished twice.
    let mut wave = wave(&[("a", &[]), ("b", &["a"])], 2);
    wave.dispatch();
    wave.handle(Input::Ended(job("a"), Ending::Usable(1)));
    assert_eq!(dispatched(&wave.dispatch()), ["b"]);
    wave.handle(Input::Released(job("a"), 1));
    assert!(wave.dispatch().is_empty(), "b is not dispatched twice");
    wave.handle(Input::Ended(job("b"), Ending::Usable(2)));
    assert!(wave.is_over());
}

#[test]
fn a_task_that_ends_after_releasing_neither_finishes_nor_blocks_again() {
    let mut wave = wave(&[("a", &[]), ("b", &["a"])], 1);
    wave.dispatch();
    wave.handle(Input::Released(job("a"), 1));
    assert_eq!(dispatched(&wave.dispatch()), ["b"]);
    // Its blob could not be stored after all: b learns that from the build itself.
    let commands = wave.handle(Input::Ended(job("a"), Ending::Failed));
    assert!(commands.is_empty(), "{commands:?}");
    wave.handle(Input::Ended(job("b"), Ending::Failed));
    assert!(wave.is_over());
}

#[test]
fn superseded_jobs_are_not_started_and_give_up_their_claims() {
    let mut wave = wave(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])], 1);
    assert_eq!(dispatched(&wave.dispatch()), ["a"]);
    wave.handle(Input::WorkDone(job("a")));
    // A newer change to b makes b and c outdated.
    wave.handle(Input::Superseded(vec![job("b"), job("c")]));
    wave.handle(Input::Ended(job("a"), Ending::Usable(1)));
    let commands = wave.dispatch();
    assert_eq!(commands[0], Command::DropClaim(job("b")));
    assert_eq!(dispatched(&commands), ["d"]);
    assert_eq!(wave.superseded(), 1, "c never became ready");
    wave.handle(Input::Ended(job("d"), Ending::Usable(2)));
    assert!(wave.is_over());
}

#[test]
fn a_cancelled_build_leaves_its_dependents_waiting_and_the_wave_ends() {
    let mut wave = wave(&[("a", &[]), ("b", &["a"])], 1);
    wave.dispatch();
    let commands = wave.handle(Input::Ended(job("a"), Ending::Cancelled));
    assert!(commands.is_empty());
    assert!(wave.dispatch().is_empty());
    assert!(wave.is_over());
}

#[test]
fn a_stop_or_a_broken_task_ends_dispatching_and_running_tasks_still_end() {
    let mut stopped = wave(&[("a", &[]), ("b", &[]), ("c", &[])], 1);
    assert_eq!(dispatched(&stopped.dispatch()), ["a"]);
    stopped.handle(Input::Stop);
    assert!(!stopped.is_over(), "a still runs");
    stopped.handle(Input::Ended(job("a"), Ending::Cancelled));
    assert!(stopped.dispatch().is_empty());
    assert!(stopped.is_over(), "b and c stay for the resumed wave");

    let mut broken = wave(&[("a", &[]), ("b", &[])], 1);
    broken.dispatch();
    broken.handle(Input::Ended(job("a"), Ending::Broken));
    assert!(broken.dispatch().is_empty());
    assert!(broken.is_over());
}

#[test]
fn time_comes_from_the_clock_it_is_given() {
    let clock = ManualClock::at(UNIX_EPOCH);
    let wave: Dispatcher<u32> =
        Dispatcher::new(&[job("a")], |_| Vec::new(), &HashMap::new(), 1, &clock);
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    assert_eq!(wave.elapsed(&clock), Duration::from_secs(3 * 24 * 3600));
}
