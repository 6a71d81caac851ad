//! `[test.NAME]` and `[policy.NAME]`: only `description` is interpreted for now; every
//! other field is kept as a plain TOML value for the code that will interpret it.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::{Entry, L, Reader};

/// A test or policy, as written.
#[derive(Debug)]
pub(crate) struct RawOpaque {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) fields: BTreeMap<String, toml::Value>,
}

impl Reader<'_> {
    pub(super) fn opaque(&mut self, entry: Entry<'_, '_>) -> RawOpaque {
        let fields = entry
            .table
            .iter()
            .filter(|(k, _)| k.get_ref() != "description")
            .map(|(k, v)| (k.get_ref().to_string(), to_toml_value(v.get_ref())))
            .collect();
        RawOpaque {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            fields,
        }
    }
}

/// Keeps a test's or policy's fields as plain TOML values for later interpretation.
fn to_toml_value(value: &DeValue<'_>) -> toml::Value {
    match value {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(i.as_str().to_string())),
        DeValue::Float(f) => toml::Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(items) => {
            toml::Value::Array(items.iter().map(|v| to_toml_value(v.get_ref())).collect())
        }
        DeValue::Table(table) => toml::Value::Table(
            table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_toml_value(v.get_ref())))
                .collect(),
        ),
    }
}
