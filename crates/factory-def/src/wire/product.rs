//! `[product.NAME]`: what is shipped (images, modules, components) and its streams, each
//! with an end of life.

use std::time::Duration;

use toml::de::DeValue;

use super::{Entry, L, Pairs, RawDefinition, Reader};
use crate::diag::ErrorCode;

#[derive(Debug)]
pub(crate) struct RawProduct {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) images: Vec<L<String>>,
    pub(crate) modules: Vec<L<String>>,
    pub(crate) components: Vec<L<String>>,
    pub(crate) streams: Vec<RawProductStream>,
}

#[derive(Debug)]
pub(crate) struct RawProductStream {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    /// `None` when absent or invalid (already reported).
    pub(crate) end_of_life: Option<time::Date>,
    /// How long before its end of life a stream warns; `None` when absent (the default).
    pub(crate) eol_warning: Option<Duration>,
    pub(crate) modules: Pairs,
    pub(crate) channels: Vec<RawChannel>,
}

/// `[product.P.streams.S.channels.C]`: where a stream's releases go, and when.
#[derive(Debug)]
pub(crate) struct RawChannel {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    /// `None` when absent or invalid (already reported).
    pub(crate) release: Option<RawCadence>,
    /// The decision context the channel's gate asks for.
    pub(crate) gate: Option<L<String>>,
}

#[derive(Debug)]
pub(crate) enum RawCadence {
    OnGreen,
    Manual,
    /// A cron expression, already known to parse.
    Schedule(L<String>),
    /// After `age` in the channel `channel` of the same stream.
    After {
        age: Duration,
        channel: L<String>,
    },
}

pub(super) const FIELDS: &[&str] = &["description", "images", "modules", "components", "streams"];
const STREAM_FIELDS: &[&str] = &[
    "description",
    "end-of-life",
    "eol-warning",
    "modules",
    "channels",
];
const CADENCE_FIELDS: &[&str] = &["schedule", "after", "in"];
const CHANNEL_FIELDS: &[&str] = &["description", "release", "gate"];
const CADENCE_HELP: &str = "write `release = \"on-green\"`, `release = \"manual\"`, `release = { schedule = \"0 6 * * 1\" }` or `release = { after = \"3d\", in = \"testing\" }`";

impl Reader<'_> {
    pub(super) fn product(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let streams = self
            .named_tables(&entry, "streams", "stream", STREAM_FIELDS)
            .into_iter()
            .map(|s| {
                self.unknown_fields(&s);
                RawProductStream {
                    name: self.name_of(&s),
                    description: self.string(&s, "description"),
                    end_of_life: self.date(&s, "end-of-life"),
                    eol_warning: self.positive_duration(&s, "eol-warning", "\"30d\""),
                    modules: self.string_map(&s, "modules"),
                    channels: self.channels(&s),
                }
            })
            .collect();
        let product = RawProduct {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            images: self.strings(&entry, "images"),
            modules: self.strings(&entry, "modules"),
            components: self.strings(&entry, "components"),
            streams,
        };
        raw.products.push(product);
    }

    fn channels(&mut self, stream: &Entry<'_, '_>) -> Vec<RawChannel> {
        self.named_tables(stream, "channels", "channel", CHANNEL_FIELDS)
            .into_iter()
            .map(|c| {
                self.unknown_fields(&c);
                RawChannel {
                    name: self.name_of(&c),
                    description: self.string(&c, "description"),
                    release: self.cadence(&c),
                    gate: self.string(&c, "gate"),
                }
            })
            .collect()
    }

    /// `release`: `"on-green"`, `"manual"`, `{ schedule = CRON }` or `{ after = AGE, in = CHANNEL }`.
    fn cadence(&mut self, channel: &Entry<'_, '_>) -> Option<RawCadence> {
        let Some(value) = self.get(channel, "release") else {
            self.missing(channel, "release", CADENCE_HELP);
            return None;
        };
        let at = self.at(value.span());
        match value.get_ref() {
            DeValue::String(word) => match word.as_ref() {
                "on-green" => Some(RawCadence::OnGreen),
                "manual" => Some(RawCadence::Manual),
                other => {
                    self.invalid(
                        &at,
                        ErrorCode::InvalidValue,
                        format!("unknown release cadence `{other}` for {}", channel.what),
                        "expected `on-green`, `manual` or a table",
                        CADENCE_HELP.into(),
                    );
                    None
                }
            },
            DeValue::Table(_) => {
                let table = self.table(
                    channel,
                    "release",
                    CADENCE_FIELDS,
                    format!("the release of {}", channel.what),
                )?;
                self.cadence_table(&table)
            }
            _ => {
                self.type_error(
                    channel,
                    "release",
                    value,
                    "a string or a table",
                    "\"on-green\"",
                );
                None
            }
        }
    }

    fn cadence_table(&mut self, table: &Entry<'_, '_>) -> Option<RawCadence> {
        self.unknown_fields(table);
        let has = |key: &str| table.table.contains_key(key);
        let (has_schedule, has_after, has_in) = (has("schedule"), has("after"), has("in"));
        let schedule = self.string(table, "schedule");
        let after = self.positive_duration(table, "after", "\"3d\"");
        let channel = self.string(table, "in");
        if has_schedule && (has_after || has_in) {
            let at = schedule.as_ref().map_or(table.at.clone(), |s| s.at.clone());
            self.invalid(
                &at,
                ErrorCode::InvalidValue,
                format!("{} has both a schedule and an age", table.what),
                "one cadence per channel",
                CADENCE_HELP.into(),
            );
            return None;
        }
        if has_schedule {
            return self.cron(schedule?).map(RawCadence::Schedule);
        }
        match (has_after, has_in) {
            (true, true) => Some(RawCadence::After {
                age: after?,
                channel: channel?,
            }),
            (true, false) => {
                self.missing(
                    table,
                    "in",
                    "name the channel the release ages in: `in = \"testing\"`",
                );
                None
            }
            (false, true) => {
                self.missing(
                    table,
                    "after",
                    "say how long it ages there: `after = \"3d\"`",
                );
                None
            }
            // Only unknown fields: those are reported already, with the known ones.
            (false, false) if !table.table.is_empty() => None,
            (false, false) => {
                self.missing(table, "schedule", CADENCE_HELP);
                None
            }
        }
    }

    /// A cron expression of five fields (minute, hour, day of month, month, day of week), as
    /// crontab(5) writes them, or six with seconds first.
    fn cron(&mut self, text: L<String>) -> Option<L<String>> {
        match text.value.parse::<croner::Cron>() {
            Ok(_) => Some(text),
            Err(e) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    format!("invalid schedule `{}`: {e}", text.value),
                    "expected a cron expression",
                    "write five fields: minute hour day-of-month month day-of-week, e.g. `\"0 6 * * 1\"` (Mondays at 06:00 UTC)".into(),
                );
                None
            }
        }
    }

    /// A positive duration (`"3d"`, `"12h"`); `None` when absent or invalid (reported).
    fn positive_duration(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
        example: &str,
    ) -> Option<Duration> {
        let text = self.string(entry, key)?;
        match humantime::parse_duration(&text.value) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    format!("`{key}` of {} is zero", entry.what),
                    "expected a positive duration",
                    format!("write e.g. `{key} = {example}`"),
                );
                None
            }
            Err(e) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    format!("invalid duration `{}` for `{key}`: {e}", text.value),
                    "expected a duration",
                    format!("write a number and a unit, e.g. `{key} = {example}`"),
                );
                None
            }
        }
    }

    /// A date: a TOML local date (`2027-06-30`) or a string in that form.
    fn date(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<time::Date> {
        const HELP: &str = "write the date as `YYYY-MM-DD`, e.g. `end-of-life = 2027-06-30`";
        let Some(value) = self.get(entry, key) else {
            self.missing(entry, key, HELP);
            return None;
        };
        let at = self.at(value.span());
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            DeValue::Datetime(dt) => {
                self.invalid(
                    &at,
                    ErrorCode::BadDate,
                    format!(
                        "`{key}` of {} must be a date without a time, found `{dt}`",
                        entry.what
                    ),
                    "expected a date",
                    HELP.into(),
                );
                return None;
            }
            _ => {
                self.type_error(entry, key, value, "a date", "2027-06-30");
                return None;
            }
        };
        match parse_date(&text) {
            Some(date) => Some(date),
            None => {
                self.invalid(
                    &at,
                    ErrorCode::BadDate,
                    format!("bad date `{text}` for `{key}` of {}", entry.what),
                    "not a calendar date in the form YYYY-MM-DD",
                    HELP.into(),
                );
                None
            }
        }
    }
}

/// Parses exactly `YYYY-MM-DD` into a calendar date.
fn parse_date(text: &str) -> Option<time::Date> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(parse_date("2028-02-29").is_some());
        assert!(parse_date("2027-02-29").is_none());
        assert!(parse_date("2027-13-01").is_none());
        assert!(parse_date("2027-1-01").is_none());
        assert!(parse_date("２０２７-01-01").is_none());
    }
}
