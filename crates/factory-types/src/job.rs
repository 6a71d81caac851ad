//! What the engine builds, named as events record it.

use std::fmt;

/// Something the engine builds: a component, or an image. Images live in their own
/// namespace, so their job names carry an `image:` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    Component(String),
    Image(String),
}

impl Job {
    /// Parses a job name as events record it (`image:NAME` or a component name).
    pub fn parse(name: &str) -> Job {
        match name.strip_prefix("image:") {
            Some(image) => Job::Image(image.to_owned()),
            None => Job::Component(name.to_owned()),
        }
    }

    /// The name events record: the component's, or `image:NAME`.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Component(name) => f.write_str(name),
            Job::Image(name) => write!(f, "image:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for job in [Job::Component("hello".into()), Job::Image("base".into())] {
            assert_eq!(Job::parse(&job.name()), job);
        }
        assert_eq!(Job::Image("base".into()).name(), "image:base");
    }
}
