//! A product stream's candidate: the outputs a release of it would ship, right now.

use std::collections::BTreeMap;

use factory_def::{Definition, Product, ProductStream};
use factory_types::{Digest, Hasher, Job};

/// What a release would be made of: every job the product stream ships, with the digest of
/// its latest usable output, and one digest over all of them (the candidate's identity: the
/// same outputs give the same candidate, whatever wave made them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: Digest,
    pub contents: BTreeMap<Job, Digest>,
}

/// Why a product stream has no candidate yet: these jobs have no usable output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub Vec<Job>);

/// The jobs a product stream ships: its components, the components of the module streams it
/// names, and its images.
pub fn shipped_jobs(def: &Definition, product: &Product, _stream: &ProductStream) -> Vec<Job> {
    let mut jobs: Vec<Job> = product
        .components
        .iter()
        .cloned()
        .map(Job::Component)
        .collect();
    for module in &product.modules {
        if let Some(module) = def.modules.get(module) {
            jobs.extend(module.components.iter().cloned().map(Job::Component));
        }
    }
    jobs.extend(product.images.iter().cloned().map(Job::Image));
    jobs.sort();
    jobs.dedup();
    jobs
}

/// The candidate of a product stream, given each job's latest usable output.
pub fn candidate(
    def: &Definition,
    product: &Product,
    stream: &ProductStream,
    output: impl Fn(&Job) -> Option<Digest>,
) -> Result<Candidate, Missing> {
    let mut contents = BTreeMap::new();
    let mut missing = Vec::new();
    for job in shipped_jobs(def, product, stream) {
        match output(&job) {
            Some(digest) => {
                contents.insert(job, digest);
            }
            None => missing.push(job),
        }
    }
    if !missing.is_empty() {
        return Err(Missing(missing));
    }
    let mut hasher = Hasher::default();
    for (job, digest) in &contents {
        hasher.update(job.name().as_bytes());
        hasher.update(b"\0");
        hasher.update(digest.hex().as_bytes());
        hasher.update(b"\n");
    }
    Ok(Candidate {
        digest: hasher.finish(),
        contents,
    })
}

/// The product version a stream's gate decisions are asked for (Greenwave's
/// `product_version`): `PRODUCT-STREAM`, as Fedora's `fedora-40`.
pub fn product_version(product: &str, stream: &str) -> String {
    format!("{product}-{stream}")
}
