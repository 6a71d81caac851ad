//! The wire layer: reads toml's spanned document tree (`DeTable`) into raw records that
//! keep the location of every value.
//!
//! Why not `#[derive(Deserialize)]`: serde stops at the first problem in a value, but a
//! reviewer wants every problem of a definition at once, each with its place and a fix.
//! Walking the spanned tree lets us report all type errors, unknown fields (with the
//! nearest known one) and missing fields in one pass.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, ErrorCode, Location};
use crate::source::{At, Sources};
use crate::suggest::did_you_mean;

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub(crate) struct L<T> {
    pub(crate) value: T,
    pub(crate) at: At,
}

pub(crate) type Pairs = Vec<(L<String>, L<String>)>;

#[derive(Debug, Clone)]
pub(crate) enum RawSource {
    Path(L<String>),
    Git { url: L<String>, rev: L<String> },
    Tarball { url: L<String>, sha256: L<String> },
}

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

#[derive(Debug)]
pub(crate) struct RawKind {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) commands: Vec<L<String>>,
    pub(crate) outputs: Vec<L<String>>,
    pub(crate) network: bool,
    pub(crate) timeout: Duration,
    pub(crate) env: Pairs,
    pub(crate) params: Pairs,
}

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

#[derive(Debug)]
pub(crate) enum RawBase {
    Scratch,
    Image(L<String>),
    OciLayout(L<String>),
}

#[derive(Debug)]
pub(crate) struct RawImage {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) base: Option<RawBase>,
    pub(crate) packages: Vec<L<String>>,
    pub(crate) components: Vec<L<String>>,
    pub(crate) entrypoint: Vec<L<String>>,
    pub(crate) cmd: Vec<L<String>>,
    pub(crate) env: Pairs,
    pub(crate) labels: Pairs,
}

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

/// A test or policy: only `description` is interpreted for now.
#[derive(Debug)]
pub(crate) struct RawOpaque {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) fields: BTreeMap<String, toml::Value>,
}

/// Everything read from all files, before cross-checks.
#[derive(Debug, Default)]
pub(crate) struct RawDefinition {
    pub(crate) components: Vec<RawComponent>,
    pub(crate) kinds: Vec<RawKind>,
    pub(crate) modules: Vec<RawModule>,
    pub(crate) images: Vec<RawImage>,
    pub(crate) products: Vec<RawProduct>,
    pub(crate) tests: Vec<RawOpaque>,
    pub(crate) policies: Vec<RawOpaque>,
}

pub(crate) const SECTIONS: &[&str] = &[
    "component",
    "kind",
    "module",
    "image",
    "product",
    "test",
    "policy",
];

const COMPONENT_FIELDS: &[&str] = &[
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
const SOURCE_FIELDS: &[&str] = &["path", "git", "rev", "url", "sha256"];
const COMPONENT_STREAM_FIELDS: &[&str] = &["source", "version"];
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
const KIND_FIELDS: &[&str] = &[
    "description",
    "commands",
    "outputs",
    "network",
    "timeout",
    "env",
    "params",
];
const MODULE_FIELDS: &[&str] = &[
    "description",
    "components",
    "build-order",
    "streams",
    "profiles",
];
const MODULE_STREAM_FIELDS: &[&str] = &["description", "components"];
const PROFILE_FIELDS: &[&str] = &["description", "packages"];
const IMAGE_FIELDS: &[&str] = &[
    "description",
    "base",
    "packages",
    "components",
    "entrypoint",
    "cmd",
    "env",
    "labels",
];
const IMAGE_BASE_FIELDS: &[&str] = &["image", "oci-layout"];
const PRODUCT_FIELDS: &[&str] = &["description", "images", "modules", "components", "streams"];
const PRODUCT_STREAM_FIELDS: &[&str] = &["description", "end-of-life", "modules"];

/// Names of components, kinds, streams...: what a package name may look like.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '_' | '-'))
        && name.len() <= 128
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A table being read, and how to talk about it in messages.
struct Entry<'t, 'i> {
    table: &'t DeTable<'i>,
    /// The key naming the table (e.g. `hello` of `[component.hello]`).
    at: At,
    /// e.g. "component `hello`".
    what: String,
    /// The table's own name (the key).
    name: String,
    fields: &'static [&'static str],
}

type Value<'t, 'i> = &'t Spanned<DeValue<'i>>;

/// Reads one file's document into the raw definition, reporting problems into `diags`.
pub(crate) struct Reader<'s> {
    sources: &'s Sources,
    file: usize,
    diags: &'s mut Vec<Diagnostic>,
}

impl<'s> Reader<'s> {
    pub(crate) fn new(sources: &'s Sources, file: usize, diags: &'s mut Vec<Diagnostic>) -> Self {
        Self {
            sources,
            file,
            diags,
        }
    }

    fn at(&self, span: Range<usize>) -> At {
        At {
            file: self.file,
            span,
        }
    }

    fn loc(&self, at: &At) -> Location {
        self.sources.location(at)
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// Reads the whole file. Returns false when the file is not valid TOML.
    pub(crate) fn read(&mut self, raw: &mut RawDefinition) -> bool {
        let sources = self.sources;
        let text = &sources.files[self.file].text;
        let (doc, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            for error in errors {
                let span = error.span().unwrap_or(0..0);
                let message = error.message().lines().next().unwrap_or("").to_string();
                let help = if message.starts_with("duplicate key") {
                    "a table or key may appear only once in a file: merge the two or rename one"
                } else {
                    "fix the TOML syntax; strings need quotes, tables are written [section.name]"
                };
                let d = Diagnostic::new(ErrorCode::Syntax, format!("invalid TOML: {message}"))
                    .at(self.loc(&self.at(span)))
                    .help(help);
                self.push(d);
            }
            return false;
        }
        for (key, value) in doc.get_ref() {
            let at = self.at(key.span());
            match key.get_ref().as_ref() {
                "component" => self.section(value, "component", raw, Self::component),
                "kind" => self.section(value, "kind", raw, Self::kind),
                "module" => self.section(value, "module", raw, Self::module),
                "image" => self.section(value, "image", raw, Self::image),
                "product" => self.section(value, "product", raw, Self::product),
                "test" => self.section(value, "test", raw, |r, e, raw| {
                    let opaque = r.opaque(e);
                    raw.tests.push(opaque);
                }),
                "policy" => self.section(value, "policy", raw, |r, e, raw| {
                    let opaque = r.opaque(e);
                    raw.policies.push(opaque);
                }),
                other => {
                    let d = Diagnostic::new(
                        ErrorCode::UnknownField,
                        format!("unknown section `{other}`"),
                    )
                    .at(self.loc(&at))
                    .label("not a section of a definition")
                    .help(
                        match did_you_mean(other, SECTIONS.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? items are written [{s}.NAME]"),
                            None => format!(
                                "a definition has the sections {}, each written [SECTION.NAME]",
                                quoted_list(SECTIONS)
                            ),
                        },
                    );
                    self.push(d);
                }
            }
        }
        true
    }

    /// A section (`[component.*]`...): a table of named tables.
    fn section<'t, 'i>(
        &mut self,
        value: Value<'t, 'i>,
        noun: &'static str,
        raw: &mut RawDefinition,
        mut read_one: impl FnMut(&mut Self, Entry<'t, 'i>, &mut RawDefinition),
    ) {
        let DeValue::Table(table) = value.get_ref() else {
            let at = self.at(value.span());
            let d = Diagnostic::new(
                ErrorCode::Type,
                format!(
                    "`{noun}` must be a table of {noun}s, found {}",
                    value.get_ref().type_str()
                ),
            )
            .at(self.loc(&at))
            .label("expected a table")
            .help(format!(
                "declare each {noun} as its own table: [{noun}.NAME]"
            ));
            self.push(d);
            return;
        };
        for (name, item) in table {
            let at = self.at(name.span());
            if !self.check_name(name.get_ref(), &at, noun) {
                continue;
            }
            let DeValue::Table(item_table) = item.get_ref() else {
                let d = Diagnostic::new(
                    ErrorCode::Type,
                    format!(
                        "{noun} `{}` must be a table, found {}",
                        name.get_ref(),
                        item.get_ref().type_str()
                    ),
                )
                .at(self.loc(&at))
                .label("expected a table")
                .help(format!(
                    "write its fields under a header: [{noun}.{}]",
                    name.get_ref()
                ));
                self.push(d);
                continue;
            };
            let entry = Entry {
                table: item_table,
                at,
                what: format!("{noun} `{}`", name.get_ref()),
                name: name.get_ref().to_string(),
                fields: fields_of(noun),
            };
            read_one(self, entry, raw);
        }
    }

    fn check_name(&mut self, name: &str, at: &At, noun: &str) -> bool {
        if is_valid_name(name) {
            return true;
        }
        let d = Diagnostic::new(ErrorCode::InvalidValue, format!("invalid {noun} name `{name}`"))
            .at(self.loc(at))
            .label("not a valid name")
            .help("names start with a letter or digit and contain only letters, digits, `+`, `.`, `_` and `-`");
        self.push(d);
        false
    }

    fn name_of(&self, entry: &Entry<'_, '_>) -> L<String> {
        L {
            value: entry.name.clone(),
            at: entry.at.clone(),
        }
    }

    fn get<'t, 'i>(&self, entry: &Entry<'t, 'i>, key: &str) -> Option<Value<'t, 'i>> {
        entry.table.get(key)
    }

    fn type_error(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
        value: Value<'_, '_>,
        expected: &str,
        example: &str,
    ) {
        let at = self.at(value.span());
        let d = Diagnostic::new(
            ErrorCode::Type,
            format!(
                "wrong type for `{key}` in {}: expected {expected}, found {}",
                entry.what,
                value.get_ref().type_str()
            ),
        )
        .at(self.loc(&at))
        .label(format!("expected {expected}"))
        .help(format!("write it like `{key} = {example}`"));
        self.push(d);
    }

    fn missing(&mut self, entry: &Entry<'_, '_>, key: &str, help: &str) {
        let d = Diagnostic::new(
            ErrorCode::MissingField,
            format!("{} has no `{key}`", entry.what),
        )
        .at(self.loc(&entry.at))
        .label(format!("`{key}` is required"))
        .help(help.to_string());
        self.push(d);
    }

    fn invalid(&mut self, at: &At, code: ErrorCode, message: String, label: &str, help: String) {
        let d = Diagnostic::new(code, message)
            .at(self.loc(at))
            .label(label.to_string())
            .help(help);
        self.push(d);
    }

    fn string(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<L<String>> {
        let value = self.get(entry, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(L {
                value: s.to_string(),
                at: self.at(value.span()),
            }),
            _ => {
                self.type_error(entry, key, value, "a string", "\"...\"");
                None
            }
        }
    }

    fn required_string(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
        help: &str,
    ) -> Option<L<String>> {
        if self.get(entry, key).is_none() {
            self.missing(entry, key, help);
            return None;
        }
        self.string(entry, key)
    }

    /// An array of strings; `None` when absent. Bad elements are reported and skipped.
    fn string_list(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<(Vec<L<String>>, At)> {
        let value = self.get(entry, key)?;
        let at = self.at(value.span());
        let DeValue::Array(items) = value.get_ref() else {
            self.type_error(entry, key, value, "an array of strings", "[\"a\", \"b\"]");
            return Some((Vec::new(), at));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(L {
                    value: s.to_string(),
                    at: self.at(item.span()),
                }),
                _ => self.type_error(entry, key, item, "a string", "[\"a\", \"b\"]"),
            }
        }
        Some((out, at))
    }

    fn strings(&mut self, entry: &Entry<'_, '_>, key: &str) -> Vec<L<String>> {
        self.string_list(entry, key)
            .map(|(v, _)| v)
            .unwrap_or_default()
    }

    fn boolean(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<bool> {
        let value = self.get(entry, key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(entry, key, value, "a boolean", "false");
                None
            }
        }
    }

    /// A table of string values (`env`, `params`, `labels`...).
    fn string_map(&mut self, entry: &Entry<'_, '_>, key: &str) -> Pairs {
        let Some(value) = self.get(entry, key) else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                entry,
                key,
                value,
                "a table of strings",
                "{ NAME = \"value\" }",
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(table.len());
        for (k, v) in table {
            match v.get_ref() {
                DeValue::String(s) => out.push((
                    L {
                        value: k.get_ref().to_string(),
                        at: self.at(k.span()),
                    },
                    L {
                        value: s.to_string(),
                        at: self.at(v.span()),
                    },
                )),
                _ => self.type_error(
                    entry,
                    &format!("{key}.{}", k.get_ref()),
                    v,
                    "a string",
                    "\"value\"",
                ),
            }
        }
        out
    }

    fn table<'t, 'i>(
        &mut self,
        entry: &Entry<'t, 'i>,
        key: &str,
        fields: &'static [&'static str],
        what: String,
    ) -> Option<Entry<'t, 'i>> {
        let (k, value) = entry.table.get_key_value(key)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(Entry {
                table,
                at: self.at(k.span()),
                what,
                name: key.to_string(),
                fields,
            }),
            _ => {
                self.type_error(entry, key, value, "a table", "{ ... }");
                None
            }
        }
    }

    /// A table of named tables (`streams`, `profiles`).
    fn named_tables<'t, 'i>(
        &mut self,
        entry: &Entry<'t, 'i>,
        key: &str,
        noun: &str,
        fields: &'static [&'static str],
    ) -> Vec<Entry<'t, 'i>> {
        let Some(value) = self.get(entry, key) else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                entry,
                key,
                value,
                "a table",
                &format!("{{ NAME = {{ ... }} }}` or `[...{key}.NAME]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, item) in table {
            let at = self.at(name.span());
            if !self.check_name(name.get_ref(), &at, noun) {
                continue;
            }
            match item.get_ref() {
                DeValue::Table(t) => out.push(Entry {
                    table: t,
                    at,
                    what: format!("{noun} `{}` of {}", name.get_ref(), entry.what),
                    name: name.get_ref().to_string(),
                    fields,
                }),
                _ => self.type_error(
                    entry,
                    &format!("{key}.{}", name.get_ref()),
                    item,
                    "a table",
                    "{ ... }",
                ),
            }
        }
        out
    }

    /// Reports every key of `entry` that is not one of its fields.
    fn unknown_fields(&mut self, entry: &Entry<'_, '_>) {
        for key in entry.table.keys() {
            let name = key.get_ref().as_ref();
            if entry.fields.contains(&name) {
                continue;
            }
            let help = match did_you_mean(name, entry.fields.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the known fields are {}", quoted_list(entry.fields)),
            };
            let at = self.at(key.span());
            let d = Diagnostic::new(
                ErrorCode::UnknownField,
                format!("unknown field `{name}` in {}", entry.what),
            )
            .at(self.loc(&at))
            .label("unknown field")
            .help(help);
            self.push(d);
        }
    }

    fn source(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<RawSource> {
        let what = format!("the {key} of {}", entry.what);
        let src = self.table(entry, key, SOURCE_FIELDS, what)?;
        self.unknown_fields(&src);
        let forms = ["path", "git", "url"]
            .into_iter()
            .filter(|f| src.table.contains_key(*f))
            .collect::<Vec<_>>();
        const HELP: &str = "write one of `{ path = \"src/NAME\" }`, `{ git = \"URL\", rev = \"REV\" }` or `{ url = \"URL\", sha256 = \"HEX\" }`";
        match forms.as_slice() {
            ["path"] => {
                let path = self.string(&src, "path")?;
                if path.value.starts_with('/') || path.value.is_empty() {
                    self.invalid(
                        &path.at,
                        ErrorCode::InvalidValue,
                        format!("source path `{}` is not relative", path.value),
                        "expected a path relative to the definition directory",
                        "local sources live inside or beside the definition: write e.g. `src/NAME`"
                            .into(),
                    );
                    return None;
                }
                Some(RawSource::Path(path))
            }
            ["git"] => {
                let url = self.string(&src, "git")?;
                let rev = self.required_string(&src, "rev", "name the revision to build: a commit id, tag or branch, e.g. `rev = \"v1.2.0\"`")?;
                Some(RawSource::Git { url, rev })
            }
            ["url"] => {
                let url = self.string(&src, "url")?;
                let sha256 = self.required_string(
                    &src,
                    "sha256",
                    "give the tarball's digest: `sha256 = \"...\"` (from `sha256sum FILE`)",
                )?;
                if !(sha256.value.len() == 64
                    && sha256.value.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    self.invalid(
                        &sha256.at,
                        ErrorCode::BadSha256,
                        format!(
                            "bad sha256 `{}`: expected 64 hexadecimal digits, found {} characters",
                            sha256.value,
                            sha256.value.chars().count()
                        ),
                        "not a sha256 digest",
                        "copy the digest printed by `sha256sum FILE`".into(),
                    );
                    return None;
                }
                Some(RawSource::Tarball {
                    url,
                    sha256: L {
                        value: sha256.value.to_ascii_lowercase(),
                        at: sha256.at,
                    },
                })
            }
            [] => {
                self.missing(&src, "path", HELP);
                None
            }
            _ => {
                let d = Diagnostic::new(
                    ErrorCode::InvalidValue,
                    format!("{} has more than one of `path`, `git` and `url`", src.what),
                )
                .at(self.loc(&src.at))
                .label("a source comes from exactly one place")
                .help(HELP);
                self.push(d);
                None
            }
        }
    }

    fn component(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let name = self.name_of(&entry);
        let kind = self.required_string(
            &entry,
            "kind",
            "say how it is built: `kind = \"command\"` (with `commands`), `deb`, `tarball`, or a kind declared as [kind.NAME]",
        );
        let source = self.source(&entry, "source");
        let streams = self
            .named_tables(&entry, "streams", "stream", COMPONENT_STREAM_FIELDS)
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

    /// `outputs`: paths or globs relative to `{out}`.
    fn outputs(&mut self, entry: &Entry<'_, '_>) -> Option<(Vec<L<String>>, At)> {
        let (outputs, at) = self.string_list(entry, "outputs")?;
        let mut valid = Vec::with_capacity(outputs.len());
        for output in outputs {
            let escapes = output.value.split('/').any(|c| c == "..");
            let problem = if output.value.is_empty() || output.value.starts_with('/') || escapes {
                Some(
                    "outputs are paths inside the output directory: relative, without `..`"
                        .to_string(),
                )
            } else if output.value.contains(['{', '}']) {
                Some(
                    "outputs take no placeholders: match the file with a glob such as `bin/*`"
                        .to_string(),
                )
            } else {
                glob::Pattern::new(&output.value)
                    .err()
                    .map(|e| format!("invalid glob pattern: {}", e.msg))
            };
            match problem {
                Some(help) => self.invalid(
                    &output.at,
                    ErrorCode::InvalidValue,
                    format!("invalid output `{}` in {}", output.value, entry.what),
                    "expected a relative path or glob, e.g. `bin/*`",
                    help,
                ),
                None => valid.push(output),
            }
        }
        Some((valid, at))
    }

    fn env(&mut self, entry: &Entry<'_, '_>) -> Pairs {
        let mut env = self.string_map(entry, "env");
        env.retain(|(name, _)| {
            if is_env_name(&name.value) {
                return true;
            }
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("invalid environment variable name `{}`", name.value),
            )
            .at(self.sources.location(&name.at))
            .label("not a variable name")
            .help("variable names contain only letters, digits and `_`, and do not start with a digit");
            self.diags.push(d);
            false
        });
        env
    }

    fn kind(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let commands = match self.string_list(&entry, "commands") {
            Some((commands, at))
                if commands.is_empty()
                    && self
                        .get(&entry, "commands")
                        .is_some_and(|v| v.get_ref().is_array()) =>
            {
                self.invalid(
                    &at,
                    ErrorCode::InvalidValue,
                    format!("{} has no commands", entry.what),
                    "expected at least one command",
                    "list the shell commands that build the source, e.g. `commands = [\"make -C {src} DESTDIR={out} install\"]`".into(),
                );
                commands
            }
            Some((commands, _)) => commands,
            None => {
                self.missing(&entry, "commands", "list the shell commands that build the source, e.g. `commands = [\"make -C {src} DESTDIR={out} install\"]`");
                Vec::new()
            }
        };
        let timeout = self.timeout(&entry);
        let kind = RawKind {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            commands,
            outputs: self.outputs(&entry).map(|(v, _)| v).unwrap_or_default(),
            network: self.boolean(&entry, "network").unwrap_or(false),
            timeout,
            env: self.env(&entry),
            params: self.string_map(&entry, "params"),
        };
        raw.kinds.push(kind);
    }

    fn timeout(&mut self, entry: &Entry<'_, '_>) -> Duration {
        let Some(text) = self.string(entry, "timeout") else {
            return crate::model::DEFAULT_TIMEOUT;
        };
        match humantime::parse_duration(&text.value) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    "a timeout of zero".into(),
                    "expected a positive duration",
                    "write e.g. `timeout = \"10m\"`".into(),
                );
                crate::model::DEFAULT_TIMEOUT
            }
            Err(e) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    format!("invalid timeout `{}`: {e}", text.value),
                    "expected a duration",
                    "write a number and a unit, e.g. `\"90s\"`, `\"10m\"` or `\"1h 30m\"`".into(),
                );
                crate::model::DEFAULT_TIMEOUT
            }
        }
    }

    fn module(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let streams = self
            .named_tables(&entry, "streams", "stream", MODULE_STREAM_FIELDS)
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

    fn image(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let image = RawImage {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            base: self.image_base(&entry),
            packages: self.strings(&entry, "packages"),
            components: self.strings(&entry, "components"),
            entrypoint: self.strings(&entry, "entrypoint"),
            cmd: self.strings(&entry, "cmd"),
            env: self.env(&entry),
            labels: self.string_map(&entry, "labels"),
        };
        raw.images.push(image);
    }

    fn image_base(&mut self, entry: &Entry<'_, '_>) -> Option<RawBase> {
        const HELP: &str = "write `base = \"scratch\"`, `base = \"IMAGE\"` (another image) or `base = { oci-layout = \"DIR\" }`";
        let Some(value) = self.get(entry, "base") else {
            self.missing(entry, "base", HELP);
            return None;
        };
        match value.get_ref() {
            DeValue::String(s) if s == "scratch" => Some(RawBase::Scratch),
            DeValue::String(_) => self.string(entry, "base").map(RawBase::Image),
            DeValue::Table(_) => {
                let base = self.table(
                    entry,
                    "base",
                    IMAGE_BASE_FIELDS,
                    format!("the base of {}", entry.what),
                )?;
                self.unknown_fields(&base);
                match (
                    self.string(&base, "image"),
                    self.string(&base, "oci-layout"),
                ) {
                    (Some(image), None) => Some(RawBase::Image(image)),
                    (None, Some(layout)) => Some(RawBase::OciLayout(layout)),
                    _ => {
                        self.invalid(
                            &base.at,
                            ErrorCode::InvalidValue,
                            format!(
                                "{} needs exactly one of `image` and `oci-layout`",
                                base.what
                            ),
                            "ambiguous base",
                            HELP.into(),
                        );
                        None
                    }
                }
            }
            _ => {
                self.type_error(entry, "base", value, "a string or a table", "\"scratch\"");
                None
            }
        }
    }

    fn product(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let streams = self
            .named_tables(&entry, "streams", "stream", PRODUCT_STREAM_FIELDS)
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

    fn opaque(&mut self, entry: Entry<'_, '_>) -> RawOpaque {
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

fn fields_of(noun: &str) -> &'static [&'static str] {
    match noun {
        "component" => COMPONENT_FIELDS,
        "kind" => KIND_FIELDS,
        "module" => MODULE_FIELDS,
        "image" => IMAGE_FIELDS,
        "product" => PRODUCT_FIELDS,
        _ => &[],
    }
}

pub(crate) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses exactly `YYYY-MM-DD` into a calendar date.
pub(crate) fn parse_date(text: &str) -> Option<time::Date> {
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

    #[test]
    fn names() {
        assert!(is_valid_name("libgreet"));
        assert!(is_valid_name("g++-12"));
        assert!(is_valid_name("7.3"));
        assert!(!is_valid_name("-x"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name(""));
    }
}
