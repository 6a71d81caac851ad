//! `[image.NAME]`: its base, packages and components exist, and no image is based on
//! itself, even through others.

use super::Checker;
use super::cycles::Edge;
use crate::wire::{RawBase, RawDefinition, RawImage};

impl Checker<'_> {
    pub(super) fn check_image(&mut self, image: &RawImage) {
        if let Some(RawBase::Image(base)) = &image.base {
            let known: Vec<String> = self.images.keys().cloned().collect();
            self.reference(
                base,
                "image",
                known.iter().map(String::as_str),
                &format!(
                    "define it as [image.{}], or use `base = \"scratch\"`",
                    base.value
                ),
            );
        }
        for package in &image.packages {
            self.package_ref(package);
        }
        for component in &image.components {
            self.component_ref(component);
        }
    }

    pub(super) fn image_cycles(&mut self, raw: &RawDefinition) {
        let mut edges = Vec::new();
        for (from, image) in raw.images.iter().enumerate() {
            if let Some(RawBase::Image(base)) = &image.base
                && let Some(&to) = self.images.get(&base.value)
            {
                edges.push(Edge {
                    from,
                    to,
                    at: base.at.clone(),
                    relation: "is based on",
                });
            }
        }
        let names: Vec<&str> = raw.images.iter().map(|i| i.name.value.as_str()).collect();
        self.report_cycles(
            "image base cycle",
            &names,
            &edges,
            "one image of the cycle must start from `scratch` or an OCI layout",
        );
    }
}
