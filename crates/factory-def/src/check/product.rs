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
    /// A channel that releases what aged in another names another channel of the same
    /// stream, and following those names never comes back: the channels form lines
    /// (testing → stable), never a loop.
    fn check_channels(&mut self, product: &RawProduct, stream: &RawProductStream) {
        let names: Vec<&str> = stream
            .channels
            .iter()
            .map(|c| c.name.value.as_str())
            .collect();
        for channel in &stream.channels {
            let Some(RawCadence::After { channel: from, .. }) = &channel.release else {
                continue;
            };
            let whose = format!(
                "stream `{}` of product `{}`",
                stream.name.value, product.name.value
            );
            let problem = if !names.contains(&from.value.as_str()) {
                Some((
                    format!("unknown channel `{}` in {whose}", from.value),
                    "no channel of this stream has this name",
                    match crate::suggest::did_you_mean(&from.value, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "declare it as [product.{}.streams.\"{}\".channels.{}]",
                            key(&product.name.value),
                            stream.name.value,
                            from.value
                        ),
                    },
                ))
            } else if loops_back(stream, &channel.name.value) {
                Some((
                    format!(
                        "channel `{}` of {whose} ages its releases in a loop",
                        channel.name.value
                    ),
                    "following `in` from here comes back here",
                    "a channel releases what aged in an earlier one: `testing` → `stable`"
                        .to_string(),
                ))
            } else {
                None
            };
            if let Some((message, label, help)) = problem {
                let d = Diagnostic::new(ErrorCode::UnknownReference, message)
                    .at(self.sources.location(&from.at))
                    .label(label)
                    .help(help);
                self.push(d);
            }
        }
    }
}

/// Whether following `in` from `start` comes back to it.
fn loops_back(stream: &RawProductStream, start: &str) -> bool {
    let mut at = start;
    for _ in 0..=stream.channels.len() {
        let next = stream
            .channels
            .iter()
            .find(|c| c.name.value == at)
            .and_then(|c| match &c.release {
                Some(RawCadence::After { channel, .. }) => Some(channel.value.as_str()),
                _ => None,
            });
        match next {
            Some(next) if next == start => return true,
            Some(next) => at = next,
            None => return false,
        }
    }
    false
}
