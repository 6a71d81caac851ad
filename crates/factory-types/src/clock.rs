//! Where time comes from. The engine and the store read it from a [`Clock`] they are given,
//! so a test can say "three days later" without waiting three days.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time: the wall clock (for what is recorded) and a monotonic one (for what is
/// measured).
pub trait Clock: Send + Sync {
    fn wall(&self) -> SystemTime;

    fn monotonic(&self) -> Instant;

    /// Milliseconds since the Unix epoch, as events and records store time.
    fn wall_ms(&self) -> i64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The real clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

impl SystemClock {
    /// The real clock, shared.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

/// A clock that moves only when told to (both of its times by the same amount).
#[derive(Debug, Clone)]
pub struct ManualClock {
    start_wall: SystemTime,
    start_monotonic: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// Starts at `wall`; its monotonic time starts now and moves only with [`Self::advance`].
    pub fn at(wall: SystemTime) -> ManualClock {
        ManualClock {
            start_wall: wall,
            start_monotonic: Instant::now(),
            elapsed: Arc::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> SystemTime {
        self.start_wall + self.elapsed()
    }

    fn monotonic(&self) -> Instant {
        self.start_monotonic + self.elapsed()
    }
}

/// The real clocks, with the wall clock moved forward by hand: builds take their real time,
/// and "three days later" is one call (the demo ages a release so).
#[derive(Debug, Clone, Default)]
pub struct ShiftedClock {
    shift: Arc<Mutex<Duration>>,
}

impl ShiftedClock {
    pub fn new() -> ShiftedClock {
        ShiftedClock::default()
    }

    /// Moves the wall clock forward by `by`, from now on.
    pub fn advance(&self, by: Duration) {
        *self.shift.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ShiftedClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now() + *self.shift.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(UNIX_EPOCH + Duration::from_secs(1_000));
        let (wall, mono) = (clock.wall(), clock.monotonic());
        assert_eq!(clock.wall(), wall);
        clock.advance(Duration::from_secs(3 * 24 * 3600));
        assert_eq!(clock.wall_ms(), (1_000 + 3 * 24 * 3600) * 1000);
        assert_eq!(clock.monotonic() - mono, Duration::from_secs(3 * 24 * 3600));
    }

    #[test]
    fn a_shifted_clock_runs_and_jumps_when_told() {
        let clock = ShiftedClock::new();
        let before = SystemTime::now();
        clock.advance(Duration::from_secs(3 * 24 * 3600));
        let shifted = clock.wall();
        assert!(shifted >= before + Duration::from_secs(3 * 24 * 3600));
        assert!(shifted < SystemTime::now() + Duration::from_secs(3 * 24 * 3600 + 60));
    }
}
