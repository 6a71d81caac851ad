//! `[module.NAME]`: components released together, their build order, streams and
//! installation profiles.

use toml::de::DeValue;

use super::{Entry, L, Pairs, RawDefinition, Reader};

#[derive(Debug)]
pub(crate) struct RawModule {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) components: Vec<L<String>>,
    pub(crate) build_order: Option<Vec<Vec<L<String>>>>,
    pub(crate) streams: Vec<RawModuleStream>,
    pub(crate) profiles: Vec<RawProfile>,
}

#[derive(Debug)]
pub(crate) struct RawModuleStream {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) components: Pairs,
}

#[derive(Debug)]
pub(crate) struct RawProfile {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) packages: Vec<L<String>>,
}

pub(super) const FIELDS: &[&str] = &[
    "description",
    "components",
    "build-order",
    "streams",
    "profiles",
];
const STREAM_FIELDS: &[&str] = &["description", "components"];
const PROFILE_FIELDS: &[&str] = &["description", "packages"];

impl Reader<'_> {
    pub(super) fn module(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let streams = self
            .named_tables(&entry, "streams", "stream", STREAM_FIELDS)
            .into_iter()
            .map(|s| {
                self.unknown_fields(&s);
                RawModuleStream {
                    name: self.name_of(&s),
                    description: self.string(&s, "description"),
                    components: self.string_map(&s, "components"),
                }
            })
            .collect();
        let profiles = self
            .named_tables(&entry, "profiles", "profile", PROFILE_FIELDS)
            .into_iter()
            .map(|p| {
                self.unknown_fields(&p);
                RawProfile {
                    name: self.name_of(&p),
                    description: self.string(&p, "description"),
                    packages: self.strings(&p, "packages"),
                }
            })
            .collect();
        let module = RawModule {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            components: self.strings(&entry, "components"),
            build_order: self.build_order(&entry),
            streams,
            profiles,
        };
        raw.modules.push(module);
    }

    fn build_order(&mut self, entry: &Entry<'_, '_>) -> Option<Vec<Vec<L<String>>>> {
        let value = self.get(entry, "build-order")?;
        const EXAMPLE: &str = "[[\"lib\"], [\"app1\", \"app2\"]]";
        let DeValue::Array(batches) = value.get_ref() else {
            self.type_error(
                entry,
                "build-order",
                value,
                "an array of arrays of component names",
                EXAMPLE,
            );
            return None;
        };
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches.iter() {
            let DeValue::Array(names) = batch.get_ref() else {
                self.type_error(
                    entry,
                    "build-order",
                    batch,
                    "an array of component names (one batch)",
                    EXAMPLE,
                );
                continue;
            };
            let mut names_out = Vec::with_capacity(names.len());
            for name in names.iter() {
                match name.get_ref() {
                    DeValue::String(s) => names_out.push(L {
                        value: s.to_string(),
                        at: self.at(name.span()),
                    }),
                    _ => self.type_error(entry, "build-order", name, "a component name", EXAMPLE),
                }
            }
            out.push(names_out);
        }
        Some(out)
    }
}
