//! Why a channel waits, in words (the CLI, the dashboard and refusals say the same).

use std::time::SystemTime;

use factory_def::Cadence;

use crate::cadence::{Gate, Wait};

pub fn wait_text(wait: &Wait) -> String {
    match wait {
        Wait::EndOfLife { date } => format!("the stream reached its end of life on {date}"),
        Wait::NoCandidate(why) => why.clone(),
        Wait::AlreadyReleased { number } => {
            format!("up to date: release {number} is this candidate")
        }
        Wait::Manual => "released by hand only (`factory release`)".into(),
        Wait::Scheduled { next: Some(next) } => {
            format!("next scheduled release at {}", stamp(*next))
        }
        Wait::Scheduled { next: None } => "the schedule names no future time".into(),
        Wait::NothingIn { channel } => format!("nothing released into `{channel}` yet"),
        Wait::Ageing {
            channel,
            number,
            ready_at,
        } => format!(
            "release {number} ages in `{channel}` until {}",
            stamp(*ready_at)
        ),
        Wait::Gate(Gate::Held(why)) => format!("held by the gate: {why}"),
        Wait::Gate(Gate::Pending(why)) => format!("waiting for tests: {why}"),
        Wait::Gate(Gate::Passed | Gate::Ungated) => "the gate passed".into(),
    }
}

fn stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A cadence in words: `on-green`, `manual`, `schedule 0 6 * * 1`, `after 3days in testing`.
pub fn cadence_text(cadence: &Cadence) -> String {
    match cadence {
        Cadence::OnGreen => "on-green".into(),
        Cadence::Manual => "manual".into(),
        Cadence::Schedule(cron) => format!("schedule {cron}"),
        Cadence::After { age, channel } => {
            format!("after {} in {channel}", humantime::format_duration(*age))
        }
    }
}
