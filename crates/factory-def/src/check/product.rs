//! `[product.NAME]`: its images, modules and components exist, it has streams, and each
//! stream names streams its modules declare.

use super::Checker;
use super::references::key;
use crate::diag::{Diagnostic, ErrorCode};
use crate::wire::{RawCadence, RawDefinition, RawProduct, RawProductStream};

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
            self.check_channels(product, stream);
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

impl Checker<'_> {
    /// A channel that releases what aged in another names a channel of the same stream
    /// declared before it, so the channels form a line (testing → stable) and never a loop.
    fn check_channels(&mut self, product: &RawProduct, stream: &RawProductStream) {
        for (i, channel) in stream.channels.iter().enumerate() {
            let Some(RawCadence::After { channel: from, .. }) = &channel.release else {
                continue;
            };
            let earlier: Vec<&str> = stream.channels[..i]
                .iter()
                .map(|c| c.name.value.as_str())
                .collect();
            if earlier.contains(&from.value.as_str()) {
                continue;
            }
            let whose = format!(
                "stream `{}` of product `{}`",
                stream.name.value, product.name.value
            );
            let (message, help) = if from.value == channel.name.value {
                (
                    format!("channel `{}` ages releases in itself", from.value),
                    "name an earlier channel of the stream, e.g. `in = \"testing\"`".to_string(),
                )
            } else if stream.channels.iter().any(|c| c.name.value == from.value) {
                (
                    format!(
                        "channel `{}` is declared after `{}` in {whose}",
                        from.value, channel.name.value
                    ),
                    format!(
                        "declare `{}` before `{}`: releases age in an earlier channel",
                        from.value, channel.name.value
                    ),
                )
            } else {
                (
                    format!("unknown channel `{}` in {whose}", from.value),
                    match crate::suggest::did_you_mean(&from.value, earlier.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "declare it as [product.{}.streams.\"{}\".channels.{}]",
                            key(&product.name.value),
                            stream.name.value,
                            from.value
                        ),
                    },
                )
            };
            let d = Diagnostic::new(ErrorCode::UnknownReference, message)
                .at(self.sources.location(&from.at))
                .label("no earlier channel of this stream has this name")
                .help(help);
            self.push(d);
        }
    }
}
