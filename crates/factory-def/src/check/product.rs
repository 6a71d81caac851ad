//! `[product.NAME]`: its images, modules and components exist, it has streams, and each
//! stream names streams its modules declare.

use super::Checker;
use super::references::key;
use crate::diag::{Diagnostic, ErrorCode};
use crate::wire::{RawDefinition, RawProduct};

impl Checker<'_> {
    pub(super) fn check_product(&mut self, product: &RawProduct, raw: &RawDefinition) {
        for image in &product.images {
            let known: Vec<String> = self.images.keys().cloned().collect();
            self.reference(
                image,
                "image",
                known.iter().map(String::as_str),
                &format!("define it as [image.{}]", image.value),
            );
        }
        for module in &product.modules {
            let known: Vec<String> = self.modules.keys().cloned().collect();
            self.reference(
                module,
                "module",
                known.iter().map(String::as_str),
                &format!("define it as [module.{}]", module.value),
            );
        }
        for component in &product.components {
            self.component_ref(component);
        }
        if product.streams.is_empty() {
            let d = Diagnostic::new(ErrorCode::MissingField, format!("product `{}` has no streams", product.name.value))
                .at(self.sources.location(&product.name.at))
                .label("at least one stream is required")
                .help(format!("add one with its end of life: [product.{}.streams.\"1.0\"] end-of-life = 2028-12-31", key(&product.name.value)));
            self.push(d);
        }
        for stream in &product.streams {
            for (module, module_stream) in &stream.modules {
                let in_product = product.modules.iter().map(|m| m.value.as_str());
                if !self.scoped_reference(
                    module,
                    "module",
                    Some(&format!("product `{}`", product.name.value)),
                    in_product,
                    "add it to the product's `modules`",
                ) {
                    continue;
                }
                let Some(&mi) = self.modules.get(&module.value) else {
                    continue;
                };
                let streams = raw.modules[mi]
                    .streams
                    .iter()
                    .map(|s| s.name.value.as_str());
                self.stream_reference(module_stream, "module", &module.value, streams);
            }
        }
    }
}
