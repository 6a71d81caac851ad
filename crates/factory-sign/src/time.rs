//! Times as Factory writes them for people and for other tools: RFC 3339 in UTC, to the
//! second, with a `Z` (what in-toto and SLSA require, and what `factory token list` shows).

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `time` as RFC 3339 in UTC, to the second, with a `Z`.
pub fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| SystemTime::from(t.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_are_utc_seconds_with_z_and_read_back() {
        let time = UNIX_EPOCH + Duration::from_millis(1_704_067_200_900);
        assert_eq!(rfc3339(time), "2024-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_704_067_200))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
