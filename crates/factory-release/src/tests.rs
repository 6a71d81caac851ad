//! The cadences, driven by a clock that is only a number: days pass in a line.

use std::time::{Duration, SystemTime};

use factory_def::{Cadence, Channel, ProductStream};
use factory_types::Digest;

use crate::cadence::{Asked, Decision, Gate, Notice, Proposal, Released, Wait};
use crate::{decide, propose, stream_notice};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// 2026-12-01T00:00:00Z, a Tuesday.
fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200)
}

fn date(year: i32, month: u8, day: u8) -> time::Date {
    time::Date::from_calendar_date(year, time::Month::try_from(month).expect("month"), day)
        .expect("date")
}

fn stream(channels: Vec<Channel>) -> ProductStream {
    ProductStream {
        name: "1.0".into(),
        description: None,
        end_of_life: date(2027, 6, 30),
        eol_warning: 30 * DAY,
        modules: Default::default(),
        channels,
    }
}

fn channel(name: &str, release: Cadence) -> Channel {
    Channel {
        name: name.into(),
        description: None,
        release,
        gate: Some(format!("demo-{name}")),
    }
}

fn testing_then_stable() -> ProductStream {
    stream(vec![
        channel("testing", Cadence::OnGreen),
        channel(
            "stable",
            Cadence::After {
                age: 3 * DAY,
                channel: "testing".into(),
            },
        ),
    ])
}

fn digest(n: u8) -> Digest {
    Digest::of(&[n])
}

fn released(number: u64, channel: &str, candidate: u8, at: SystemTime) -> Released {
    Released {
        number,
        channel: channel.into(),
        candidate: digest(candidate),
        at,
    }
}

fn by_cadence() -> Asked {
    Asked::ByCadence {
        schedule_from: start(),
    }
}

fn now_for(
    s: &ProductStream,
    ch: usize,
    now: SystemTime,
    history: &[Released],
    current: u8,
) -> Proposal {
    propose(
        s,
        &s.channels[ch],
        now,
        history,
        Ok(&digest(current)),
        by_cadence(),
    )
}

#[test]
fn on_green_releases_a_new_candidate_once_the_gate_passes() {
    let s = testing_then_stable();
    let p = now_for(&s, 0, start(), &[], 1);
    assert_eq!(p, Proposal::Candidate(digest(1)));
    assert_eq!(
        decide(p.clone(), Gate::Pending("1 test running".into())),
        Decision::Wait(Wait::Gate(Gate::Pending("1 test running".into())))
    );
    assert_eq!(decide(p, Gate::Passed), Decision::Release(digest(1)));
    let history = [released(1, "testing", 1, start())];
    assert_eq!(
        now_for(&s, 0, start() + DAY, &history, 1),
        Proposal::Wait(Wait::AlreadyReleased { number: 1 })
    );
    assert_eq!(
        now_for(&s, 0, start() + DAY, &history, 2),
        Proposal::Candidate(digest(2))
    );
}

#[test]
fn without_a_candidate_nothing_is_proposed_and_the_reason_is_kept() {
    let s = testing_then_stable();
    let p = propose(
        &s,
        &s.channels[0],
        start(),
        &[],
        Err("hello has no build yet"),
        by_cadence(),
    );
    assert_eq!(
        p,
        Proposal::Wait(Wait::NoCandidate("hello has no build yet".into()))
    );
}

#[test]
fn stable_takes_what_aged_three_days_in_testing() {
    let s = testing_then_stable();
    assert_eq!(
        now_for(&s, 1, start(), &[], 1),
        Proposal::Wait(Wait::NothingIn {
            channel: "testing".into()
        })
    );
    let history = vec![released(1, "testing", 1, start())];
    let ageing = Proposal::Wait(Wait::Ageing {
        channel: "testing".into(),
        number: 1,
        ready_at: start() + 3 * DAY,
    });
    assert_eq!(now_for(&s, 1, start() + 2 * DAY, &history, 1), ageing);
    assert_eq!(
        now_for(&s, 1, start() + 3 * DAY, &history, 1),
        Proposal::Candidate(digest(1))
    );
    let mut history = history;
    history.push(released(2, "stable", 1, start() + 3 * DAY));
    assert_eq!(
        now_for(&s, 1, start() + 4 * DAY, &history, 1),
        Proposal::Wait(Wait::AlreadyReleased { number: 2 })
    );
}

#[test]
fn a_candidate_replaced_in_testing_before_it_aged_is_not_promoted() {
    let s = testing_then_stable();
    let history = [
        released(1, "testing", 1, start()),
        released(2, "testing", 2, start() + 2 * DAY),
    ];
    // Day 3: candidate 1 aged, but candidate 2 replaced it in testing; 2 ages until day 5.
    assert_eq!(
        now_for(&s, 1, start() + 3 * DAY, &history, 2),
        Proposal::Wait(Wait::Ageing {
            channel: "testing".into(),
            number: 2,
            ready_at: start() + 5 * DAY,
        })
    );
    assert_eq!(
        now_for(&s, 1, start() + 5 * DAY, &history, 2),
        Proposal::Candidate(digest(2))
    );
}

#[test]
fn by_hand_skips_the_age_but_not_the_gate() {
    let s = testing_then_stable();
    let history = [released(1, "testing", 1, start())];
    let p = propose(
        &s,
        &s.channels[1],
        start() + DAY,
        &history,
        Ok(&digest(1)),
        Asked::ByHand,
    );
    assert_eq!(p, Proposal::Candidate(digest(1)));
    assert_eq!(
        decide(p, Gate::Held("hello-greets failed".into())),
        Decision::Wait(Wait::Gate(Gate::Held("hello-greets failed".into())))
    );
}

#[test]
fn manual_channels_wait_until_asked() {
    let s = stream(vec![channel("stable", Cadence::Manual)]);
    assert_eq!(
        now_for(&s, 0, start(), &[], 1),
        Proposal::Wait(Wait::Manual)
    );
    let p = propose(
        &s,
        &s.channels[0],
        start(),
        &[],
        Ok(&digest(1)),
        Asked::ByHand,
    );
    assert_eq!(p, Proposal::Candidate(digest(1)));
}

#[test]
fn a_schedule_releases_once_per_time_after_it() {
    // Mondays at 06:00 UTC; start() is Tuesday 2026-12-01, so the first time is 2026-12-07.
    let s = stream(vec![channel(
        "weekly",
        Cadence::Schedule("0 6 * * 1".into()),
    )]);
    let monday = start() + 6 * DAY + Duration::from_secs(6 * 3600);
    assert_eq!(
        now_for(&s, 0, start() + DAY, &[], 1),
        Proposal::Wait(Wait::Scheduled { next: Some(monday) })
    );
    assert_eq!(
        now_for(&s, 0, monday, &[], 1),
        Proposal::Candidate(digest(1))
    );
    let history = [released(1, "weekly", 1, monday)];
    // A new candidate on Wednesday waits for the next Monday.
    assert_eq!(
        now_for(&s, 0, monday + 2 * DAY, &history, 2),
        Proposal::Wait(Wait::Scheduled {
            next: Some(monday + 7 * DAY)
        })
    );
    assert_eq!(
        now_for(&s, 0, monday + 7 * DAY, &history, 2),
        Proposal::Candidate(digest(2))
    );
    // The gate held it at 06:00: it goes out as soon as the gate passes, still once.
    assert_eq!(
        now_for(
            &s,
            0,
            monday + 7 * DAY + Duration::from_secs(600),
            &history,
            2
        ),
        Proposal::Candidate(digest(2))
    );
}

#[test]
fn past_its_end_of_life_a_stream_releases_nothing_even_by_hand() {
    let s = testing_then_stable();
    let day_after = SystemTime::from(time::OffsetDateTime::new_utc(
        date(2027, 7, 1),
        time::Time::MIDNIGHT,
    ));
    let ended = Proposal::Wait(Wait::EndOfLife {
        date: s.end_of_life,
    });
    assert_eq!(now_for(&s, 0, day_after, &[], 1), ended);
    let by_hand = propose(
        &s,
        &s.channels[0],
        day_after,
        &[],
        Ok(&digest(1)),
        Asked::ByHand,
    );
    assert_eq!(by_hand, ended);
    // The last day itself still releases.
    assert_eq!(
        now_for(&s, 0, day_after - DAY, &[], 1),
        Proposal::Candidate(digest(1))
    );
}

#[test]
fn the_end_of_life_is_announced_once_before_and_once_after() {
    let s = testing_then_stable();
    let end = SystemTime::from(time::OffsetDateTime::new_utc(
        date(2027, 7, 1),
        time::Time::MIDNIGHT,
    ));
    assert_eq!(stream_notice(&s, end - 31 * DAY, &[]), None);
    assert_eq!(
        stream_notice(&s, end - 30 * DAY, &[]),
        Some(Notice::Warning)
    );
    assert_eq!(stream_notice(&s, end - DAY, &[Notice::Warning]), None);
    assert_eq!(
        stream_notice(&s, end, &[Notice::Warning]),
        Some(Notice::Ended)
    );
    assert_eq!(
        stream_notice(&s, end + DAY, &[Notice::Warning, Notice::Ended]),
        None
    );
}
