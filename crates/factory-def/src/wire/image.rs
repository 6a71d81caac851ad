//! `[image.NAME]`: an OCI image made of packages and components on a base (`scratch`,
//! another image, or an OCI layout directory).

use toml::de::DeValue;

use super::{Entry, L, Pairs, RawDefinition, Reader};
use crate::diag::ErrorCode;

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

pub(super) const FIELDS: &[&str] = &[
    "description",
    "base",
    "packages",
    "components",
    "entrypoint",
    "cmd",
    "env",
    "labels",
];
const BASE_FIELDS: &[&str] = &["image", "oci-layout"];

impl Reader<'_> {
    pub(super) fn image(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
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
                    BASE_FIELDS,
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
}
