//! `[component.NAME]`: what is built, from which source, how (its kind, or the `deb` and
//! `tarball` tables of the built-in kinds), and the packages it produces.

use super::source::RawSource;
use super::{At, Entry, L, Pairs, RawDefinition, Reader};

#[derive(Debug)]
pub(crate) struct RawComponent {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) kind: Option<L<String>>,
    pub(crate) source: Option<RawSource>,
    pub(crate) version: Option<L<String>>,
    pub(crate) build_requires: Vec<L<String>>,
    pub(crate) requires: Vec<L<String>>,
    pub(crate) owners: Vec<L<String>>,
    pub(crate) packages: Option<Vec<L<String>>>,
    pub(crate) streams: Vec<RawComponentStream>,
    pub(crate) commands: Option<(Vec<L<String>>, At)>,
    pub(crate) outputs: Option<(Vec<L<String>>, At)>,
    pub(crate) env: Pairs,
    pub(crate) params: Pairs,
    pub(crate) deb: Option<RawDeb>,
    pub(crate) tarball: Option<RawTarball>,
}

#[derive(Debug)]
pub(crate) struct RawComponentStream {
    pub(crate) name: L<String>,
    pub(crate) source: Option<RawSource>,
    pub(crate) version: Option<L<String>>,
}

#[derive(Debug)]
pub(crate) struct RawDeb {
    pub(crate) at: At,
    pub(crate) from: Option<L<String>>,
    pub(crate) package: Option<L<String>>,
    pub(crate) version: Option<L<String>>,
    pub(crate) architecture: Option<L<String>>,
    pub(crate) maintainer: Option<L<String>>,
    pub(crate) description: Option<L<String>>,
    pub(crate) section: Option<L<String>>,
    pub(crate) priority: Option<L<String>>,
    pub(crate) depends: Vec<L<String>>,
    pub(crate) pre_depends: Vec<L<String>>,
    pub(crate) provides: Vec<L<String>>,
    pub(crate) conflicts: Vec<L<String>>,
    pub(crate) prefix: Option<L<String>>,
}

#[derive(Debug)]
pub(crate) struct RawTarball {
    pub(crate) at: At,
    pub(crate) from: Option<L<String>>,
    pub(crate) prefix: Option<L<String>>,
}

pub(super) const FIELDS: &[&str] = &[
    "description",
    "kind",
    "source",
    "version",
    "build-requires",
    "requires",
    "owners",
    "packages",
    "streams",
    "commands",
    "outputs",
    "env",
    "params",
    "deb",
    "tarball",
];
const STREAM_FIELDS: &[&str] = &["source", "version"];
const DEB_FIELDS: &[&str] = &[
    "from",
    "package",
    "version",
    "architecture",
    "maintainer",
    "description",
    "section",
    "priority",
    "depends",
    "pre-depends",
    "provides",
    "conflicts",
    "prefix",
];
const TARBALL_FIELDS: &[&str] = &["from", "prefix"];

impl Reader<'_> {
    pub(super) fn component(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let name = self.name_of(&entry);
        let kind = self.required_string(
            &entry,
            "kind",
            "say how it is built: `kind = \"command\"` (with `commands`), `deb`, `tarball`, or a kind declared as [kind.NAME]",
        );
        let source = self.source(&entry, "source");
        let streams = self
            .named_tables(&entry, "streams", "stream", STREAM_FIELDS)
            .into_iter()
            .map(|s| {
                self.unknown_fields(&s);
                RawComponentStream {
                    name: self.name_of(&s),
                    source: self.source(&s, "source"),
                    version: self.string(&s, "version"),
                }
            })
            .collect();
        let deb = self
            .table(
                &entry,
                "deb",
                DEB_FIELDS,
                format!("the `deb` table of {}", entry.what),
            )
            .map(|d| self.deb(&d));
        let tarball = self
            .table(
                &entry,
                "tarball",
                TARBALL_FIELDS,
                format!("the `tarball` table of {}", entry.what),
            )
            .map(|t| {
                self.unknown_fields(&t);
                RawTarball {
                    at: t.at.clone(),
                    from: self.string(&t, "from"),
                    prefix: self.string(&t, "prefix"),
                }
            });
        let component = RawComponent {
            description: self.string(&entry, "description"),
            kind,
            source,
            version: self.string(&entry, "version"),
            build_requires: self.strings(&entry, "build-requires"),
            requires: self.strings(&entry, "requires"),
            owners: self.strings(&entry, "owners"),
            packages: self.string_list(&entry, "packages").map(|(v, _)| v),
            streams,
            commands: self.string_list(&entry, "commands"),
            outputs: self.outputs(&entry),
            env: self.env(&entry),
            params: self.string_map(&entry, "params"),
            deb,
            tarball,
            name,
        };
        raw.components.push(component);
    }

    fn deb(&mut self, d: &Entry<'_, '_>) -> RawDeb {
        self.unknown_fields(d);
        RawDeb {
            at: d.at.clone(),
            from: self.string(d, "from"),
            package: self.string(d, "package"),
            version: self.string(d, "version"),
            architecture: self.string(d, "architecture"),
            maintainer: self.string(d, "maintainer"),
            description: self.string(d, "description"),
            section: self.string(d, "section"),
            priority: self.string(d, "priority"),
            depends: self.strings(d, "depends"),
            pre_depends: self.strings(d, "pre-depends"),
            provides: self.strings(d, "provides"),
            conflicts: self.strings(d, "conflicts"),
            prefix: self.string(d, "prefix"),
        }
    }
}
