//! The wire layer: reads toml's spanned document tree (`DeTable`) into raw records that
//! keep the location of every value.
//!
//! Why not `#[derive(Deserialize)]`: serde stops at the first problem in a value, but a
//! reviewer wants every problem of a definition at once, each with its place and a fix.
//! Walking the spanned tree lets us report all type errors, unknown fields (with the
//! nearest known one) and missing fields in one pass.
//!
//! How the parts fit: this module reads a file's top level and hands each `[SECTION.NAME]`
//! table, as an [`Entry`] carrying its section's field table, to that section's reader
//! (`component`, `kind`, `module`, `image`, `product`, `hook`, `test_policy`); `source` reads the
//! `source` table components and their streams share. Every reader is built from the
//! typed accessors of `fields`, which report a wrong type, a missing or an unknown field
//! where it was written, so a section module only says which fields it has and what
//! they mean.

mod component;
mod fields;
mod hook;
mod image;
mod kind;
mod module;
mod product;
mod source;
mod test_policy;

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, ErrorCode, Location};
use crate::source::{At, Sources};
use crate::suggest::did_you_mean;

pub(crate) use component::{RawComponent, RawDeb};
pub(crate) use fields::is_valid_name;
pub(crate) use hook::{RawHook, RawHookAction};
pub(crate) use image::{RawBase, RawImage};
pub(crate) use kind::RawKind;
pub(crate) use module::RawModule;
pub(crate) use product::{RawCadence, RawChannel, RawProduct, RawProductStream};
pub(crate) use source::RawSource;
pub(crate) use test_policy::RawOpaque;

use fields::quoted_list;

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub(crate) struct L<T> {
    pub(crate) value: T,
    pub(crate) at: At,
}

pub(crate) type Pairs = Vec<(L<String>, L<String>)>;

/// Everything read from all files, before cross-checks.
#[derive(Debug, Default)]
pub(crate) struct RawDefinition {
    pub(crate) components: Vec<RawComponent>,
    pub(crate) kinds: Vec<RawKind>,
    pub(crate) modules: Vec<RawModule>,
    pub(crate) images: Vec<RawImage>,
    pub(crate) products: Vec<RawProduct>,
    pub(crate) hooks: Vec<RawHook>,
    pub(crate) tests: Vec<RawOpaque>,
    pub(crate) policies: Vec<RawOpaque>,
}

const SECTIONS: &[&str] = &[
    "component",
    "kind",
    "module",
    "image",
    "product",
    "hook",
    "test",
    "policy",
];

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
            self.syntax_errors(errors);
            return false;
        }
        for (key, value) in doc.get_ref() {
            match key.get_ref().as_ref() {
                "component" => {
                    self.section(value, "component", component::FIELDS, raw, Self::component);
                }
                "kind" => self.section(value, "kind", kind::FIELDS, raw, Self::kind),
                "module" => self.section(value, "module", module::FIELDS, raw, Self::module),
                "image" => self.section(value, "image", image::FIELDS, raw, Self::image),
                "product" => self.section(value, "product", product::FIELDS, raw, Self::product),
                "hook" => self.section(value, "hook", hook::FIELDS, raw, Self::hook),
                // Tests and policies are kept whole (see `test_policy`): no field is unknown.
                "test" => self.section(value, "test", &[], raw, |r, e, raw| {
                    let opaque = r.opaque(e);
                    raw.tests.push(opaque);
                }),
                "policy" => self.section(value, "policy", &[], raw, |r, e, raw| {
                    let opaque = r.opaque(e);
                    raw.policies.push(opaque);
                }),
                other => self.unknown_section(other, self.at(key.span())),
            }
        }
        true
    }

    fn syntax_errors(&mut self, errors: Vec<toml::de::Error>) {
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
    }

    fn unknown_section(&mut self, name: &str, at: At) {
        let d = Diagnostic::new(ErrorCode::UnknownField, format!("unknown section `{name}`"))
            .at(self.loc(&at))
            .label("not a section of a definition")
            .help(match did_you_mean(name, SECTIONS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? items are written [{s}.NAME]"),
                None => format!(
                    "a definition has the sections {}, each written [SECTION.NAME]",
                    quoted_list(SECTIONS)
                ),
            });
        self.push(d);
    }

    /// A section (`[component.*]`...): a table of named tables.
    fn section<'t, 'i>(
        &mut self,
        value: Value<'t, 'i>,
        noun: &'static str,
        fields: &'static [&'static str],
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
                fields,
            };
            read_one(self, entry, raw);
        }
    }
}
