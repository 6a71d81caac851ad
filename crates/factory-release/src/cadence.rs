//! When a channel releases. Two steps, because the gate is asked about a particular
//! candidate: [`propose`] says which candidate a channel would release now (or why none),
//! the caller asks the gate about it, and [`decide`] combines the two.

use std::time::{Duration, SystemTime};

use factory_def::{Cadence, Channel, ProductStream};
use factory_types::Digest;

/// One release of a stream, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// Numbered per stream, from 1, whatever the channel.
    pub number: u64,
    pub channel: String,
    pub candidate: Digest,
    pub at: SystemTime,
}

/// What the gate of a channel says about a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// The channel has no gate.
    Ungated,
    Passed,
    /// Unsatisfied: a test failed or errored, or a required result is missing.
    Held(String),
    /// Tests still queued or running: not a no, not yet a yes.
    Pending(String),
}

/// Why a channel releases nothing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// The stream is past its end of life: it releases nothing more.
    EndOfLife { date: time::Date },
    /// The stream has nothing to release (some of what it ships was never built).
    NoCandidate(String),
    /// The channel's latest release is already this candidate.
    AlreadyReleased { number: u64 },
    /// The channel releases only when asked.
    Manual,
    /// The channel releases at its scheduled times; the next is this one.
    Scheduled { next: Option<SystemTime> },
    /// The channel releases what aged in `channel`, and nothing was released there yet.
    NothingIn { channel: String },
    /// The newest release of `channel` is ageing there until `ready_at`.
    Ageing {
        channel: String,
        number: u64,
        ready_at: SystemTime,
    },
    /// The gate holds it (a failure or a missing result) or waits for tests still running.
    Gate(Gate),
}

/// Which candidate a channel would release now, before its gate is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    Candidate(Digest),
    Wait(Wait),
}

/// What a channel does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Release(Digest),
    Wait(Wait),
}

/// How a proposal is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// By the channel's own cadence. `schedule_from` is when a scheduled channel that never
    /// released started waiting for its first time (the releaser's start).
    ByCadence { schedule_from: SystemTime },
    /// By hand (`factory release`): the time conditions (schedule, age) are waived; end of
    /// life and the gate are not.
    ByHand,
}

/// The candidate `channel` of `stream` would release at `now`, given the stream's release
/// history (any order) and its current candidate.
pub fn propose(
    stream: &ProductStream,
    channel: &Channel,
    now: SystemTime,
    history: &[Released],
    current: Result<&Digest, &str>,
    asked: Asked,
) -> Proposal {
    if ended(stream, now) {
        return Proposal::Wait(Wait::EndOfLife {
            date: stream.end_of_life,
        });
    }
    let latest_here = latest_in(history, &channel.name);
    let proposal = match (&channel.release, asked) {
        (Cadence::After { age, channel: from }, asked) => aged(history, from, *age, now, asked),
        (Cadence::Manual, Asked::ByCadence { .. }) => return Proposal::Wait(Wait::Manual),
        (Cadence::Schedule(cron), Asked::ByCadence { schedule_from }) => {
            let since = latest_here.map_or(schedule_from, |r| r.at);
            match scheduled_time_between(cron, since, now) {
                Ok(true) => current_candidate(current),
                Ok(false) => Proposal::Wait(Wait::Scheduled {
                    next: next_time(cron, now),
                }),
                Err(()) => Proposal::Wait(Wait::Scheduled { next: None }),
            }
        }
        _ => current_candidate(current),
    };
    match (proposal, latest_here) {
        (Proposal::Candidate(c), Some(latest)) if latest.candidate == c => {
            Proposal::Wait(Wait::AlreadyReleased {
                number: latest.number,
            })
        }
        (proposal, _) => proposal,
    }
}

/// Combines a proposal with its gate's answer.
pub fn decide(proposal: Proposal, gate: Gate) -> Decision {
    match (proposal, gate) {
        (Proposal::Wait(wait), _) => Decision::Wait(wait),
        (Proposal::Candidate(c), Gate::Ungated | Gate::Passed) => Decision::Release(c),
        (Proposal::Candidate(_), gate) => Decision::Wait(Wait::Gate(gate)),
    }
}

fn current_candidate(current: Result<&Digest, &str>) -> Proposal {
    match current {
        Ok(digest) => Proposal::Candidate(*digest),
        Err(why) => Proposal::Wait(Wait::NoCandidate(why.to_string())),
    }
}

/// The newest release of `from` that has aged `age` (any newest one, by hand).
fn aged(
    history: &[Released],
    from: &str,
    age: Duration,
    now: SystemTime,
    asked: Asked,
) -> Proposal {
    let Some(newest) = latest_in(history, from) else {
        return Proposal::Wait(Wait::NothingIn {
            channel: from.to_string(),
        });
    };
    if asked == Asked::ByHand {
        return Proposal::Candidate(newest.candidate);
    }
    let ripe = history
        .iter()
        .filter(|r| r.channel == from && r.at + age <= now)
        .max_by_key(|r| r.number);
    match ripe {
        // Only the newest candidate of `from` is promoted: an older one that aged while a
        // newer one replaced it there has been superseded, as britney ages the version in
        // testing, not every version that passed through it.
        Some(r) if r.candidate == newest.candidate => Proposal::Candidate(r.candidate),
        _ => Proposal::Wait(Wait::Ageing {
            channel: from.to_string(),
            number: newest.number,
            ready_at: first_release_of(history, from, &newest.candidate) + age,
        }),
    }
}

/// When `candidate` entered `channel` without leaving it since: a candidate released there
/// twice ages from the first time.
fn first_release_of(history: &[Released], channel: &str, candidate: &Digest) -> SystemTime {
    let mut here: Vec<&Released> = history.iter().filter(|r| r.channel == channel).collect();
    here.sort_by_key(|r| std::cmp::Reverse(r.number));
    let mut since = here.first().map_or(SystemTime::UNIX_EPOCH, |r| r.at);
    for r in here {
        if r.candidate != *candidate {
            break;
        }
        since = r.at;
    }
    since
}

fn latest_in<'a>(history: &'a [Released], channel: &str) -> Option<&'a Released> {
    history
        .iter()
        .filter(|r| r.channel == channel)
        .max_by_key(|r| r.number)
}

/// Whether the stream is past its end of life at `now` (the end-of-life day itself still
/// releases).
pub fn ended(stream: &ProductStream, now: SystemTime) -> bool {
    date_of(now) > stream.end_of_life
}

fn date_of(at: SystemTime) -> time::Date {
    time::OffsetDateTime::from(at).date()
}

fn to_chrono(at: SystemTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::<chrono::Utc>::from(at)
}

/// Whether one of the schedule's times falls in `(since, now]`.
fn scheduled_time_between(cron: &str, since: SystemTime, now: SystemTime) -> Result<bool, ()> {
    let cron: croner::Cron = cron.parse().map_err(|_| ())?;
    match cron.find_next_occurrence(&to_chrono(since), false) {
        Ok(next) => Ok(next <= to_chrono(now)),
        Err(_) => Ok(false),
    }
}

/// The schedule's first time after `now`.
pub fn next_time(cron: &str, now: SystemTime) -> Option<SystemTime> {
    let cron: croner::Cron = cron.parse().ok()?;
    cron.find_next_occurrence(&to_chrono(now), false)
        .ok()
        .map(SystemTime::from)
}

/// What a stream should say about its end of life at `now`, given what it already said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Its end of life is near (within its `eol-warning`).
    Warning,
    /// It is past its end of life.
    Ended,
}

/// The notice due now, if one is not said yet (`said` lists those already recorded).
pub fn stream_notice(stream: &ProductStream, now: SystemTime, said: &[Notice]) -> Option<Notice> {
    if ended(stream, now) {
        return (!said.contains(&Notice::Ended)).then_some(Notice::Ended);
    }
    let end = time::OffsetDateTime::new_utc(stream.end_of_life, time::Time::MIDNIGHT)
        + time::Duration::days(1);
    let warn_from = SystemTime::from(end) - stream.eol_warning;
    (now >= warn_from && !said.contains(&Notice::Warning)).then_some(Notice::Warning)
}

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Active,
    /// Within its `eol-warning` of the end of life.
    Ending,
    /// Past its end of life: it releases nothing more.
    Ended,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Ending => "ending",
            Lifecycle::Ended => "ended",
        }
    }
}

pub fn lifecycle(stream: &ProductStream, now: SystemTime) -> Lifecycle {
    match stream_notice(stream, now, &[]) {
        None => Lifecycle::Active,
        Some(Notice::Warning) => Lifecycle::Ending,
        Some(Notice::Ended) => Lifecycle::Ended,
    }
}
