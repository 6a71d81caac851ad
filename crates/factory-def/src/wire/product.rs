//! `[product.NAME]`: what is shipped (images, modules, components) and its streams, each
//! with an end of life.

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
    pub(crate) modules: Pairs,
}

pub(super) const FIELDS: &[&str] = &["description", "images", "modules", "components", "streams"];
const STREAM_FIELDS: &[&str] = &["description", "end-of-life", "modules"];

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
                    modules: self.string_map(&s, "modules"),
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
