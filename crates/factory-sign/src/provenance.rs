//! What an artifact was built from, as an in-toto Statement (v1) with a SLSA provenance
//! (v1) predicate. [`Provenance`] is what Factory knows; [`statement`] is its JSON, kept
//! apart in `StatementJson` so the domain type says nothing of field names.

use std::collections::BTreeMap;
use std::time::SystemTime;

use factory_types::Digest;
use serde::Serialize;

use crate::error::SignError;
use crate::time::rfc3339;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// What one build made, and from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// What was built: at least one, each with its sha256.
    pub subjects: Vec<Subject>,
    /// A URI naming how a build of this kind runs (what `external_parameters` mean).
    pub build_type: String,
    /// What the definition asked for: the component, its recipe, the definition revision.
    pub external_parameters: BTreeMap<String, Parameter>,
    /// What Factory chose itself (the build key, the platform).
    pub internal_parameters: BTreeMap<String, Parameter>,
    /// Everything the build read: sources and input artifacts, by digest.
    pub resolved_dependencies: Vec<Dependency>,
    pub builder: Builder,
    /// Which build this was: Factory's build number or key.
    pub invocation_id: String,
    pub started: SystemTime,
    pub finished: SystemTime,
}

/// An artifact the statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// E.g. `hello_1.0_amd64.deb`, or a subject identifier such as `hello@sha256:…`.
    pub name: String,
    pub sha256: Digest,
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Parameter {
    Text(String),
    List(Vec<String>),
}

/// Something a build read. At least one of `sha256` and `git_commit` says exactly which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dependency {
    pub name: Option<String>,
    /// Where it came from: a git URL, a tarball's URL, a subject identifier.
    pub uri: Option<String>,
    pub sha256: Option<Digest>,
    /// A git commit (40 hex digits), as a definition revision is known.
    pub git_commit: Option<String>,
}

/// Who built: Factory, at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    /// A URI naming this builder (one factory), e.g. `https://factory.example.org/builder`.
    pub id: String,
    /// Component versions, e.g. `factory` → `0.1.0`.
    pub version: BTreeMap<String, String>,
}

impl Provenance {
    /// What SLSA and in-toto require, checked before anything is signed.
    pub fn check(&self) -> Result<(), SignError> {
        let bad = |reason: String| Err(SignError::BadProvenance(reason));
        if self.subjects.is_empty() {
            return bad("a statement needs at least one subject".into());
        }
        if let Some(s) = self.subjects.iter().find(|s| s.name.is_empty()) {
            return bad(format!("the subject {} has an empty name", s.sha256));
        }
        for (what, uri) in [
            ("build type", &self.build_type),
            ("builder id", &self.builder.id),
        ] {
            if !is_uri(uri) {
                return bad(format!("the {what} `{uri}` is not a URI (SCHEME:…)"));
            }
        }
        if self.finished < self.started {
            return bad(format!(
                "the build finished ({}) before it started ({})",
                rfc3339(self.finished),
                rfc3339(self.started)
            ));
        }
        for dependency in &self.resolved_dependencies {
            dependency_problem(dependency).map_or(Ok(()), bad)?;
        }
        Ok(())
    }
}

fn dependency_problem(dependency: &Dependency) -> Option<String> {
    let named = dependency.name.as_deref().or(dependency.uri.as_deref());
    let Some(named) = named else {
        return Some("a resolved dependency needs a name or a URI".into());
    };
    if dependency.sha256.is_none() && dependency.git_commit.is_none() {
        return Some(format!("the dependency `{named}` has no digest"));
    }
    match &dependency.git_commit {
        Some(commit) if !is_git_commit(commit) => Some(format!(
            "the dependency `{named}` has git commit `{commit}`, which is not 40 hex digits"
        )),
        _ => None,
    }
}

fn is_git_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// RFC 3986's `scheme ":"`: a letter, then letters, digits, `+`, `-`, `.`; then anything.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !text.contains(char::is_whitespace)
}

/// The Statement's JSON, as in-toto's parsers read it (field names in lower camel case,
/// empty optional fields left out: protobuf's JSON form refuses nothing, but the strict
/// parsers refuse unknown names).
pub fn statement(provenance: &Provenance) -> Result<Vec<u8>, SignError> {
    provenance.check()?;
    let json = StatementJson::from(provenance);
    serde_json::to_vec(&json).map_err(|e| SignError::BadProvenance(e.to_string()))
}

#[derive(Serialize)]
struct StatementJson<'a> {
    #[serde(rename = "_type")]
    kind: &'static str,
    subject: Vec<ResourceJson<'a>>,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: PredicateJson<'a>,
}

#[derive(Serialize)]
struct ResourceJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    digest: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PredicateJson<'a> {
    build_definition: BuildDefinitionJson<'a>,
    run_details: RunDetailsJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildDefinitionJson<'a> {
    build_type: &'a str,
    external_parameters: &'a BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    internal_parameters: &'a BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resolved_dependencies: Vec<ResourceJson<'a>>,
}

#[derive(Serialize)]
struct RunDetailsJson<'a> {
    builder: BuilderJson<'a>,
    metadata: MetadataJson<'a>,
}

#[derive(Serialize)]
struct BuilderJson<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    version: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataJson<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    invocation_id: &'a str,
    started_on: String,
    finished_on: String,
}

impl<'a> From<&'a Provenance> for StatementJson<'a> {
    fn from(p: &'a Provenance) -> StatementJson<'a> {
        StatementJson {
            kind: STATEMENT_TYPE,
            subject: p
                .subjects
                .iter()
                .map(|s| ResourceJson {
                    name: Some(&s.name),
                    uri: None,
                    digest: BTreeMap::from([("sha256", s.sha256.hex())]),
                })
                .collect(),
            predicate_type: SLSA_PROVENANCE_V1,
            predicate: PredicateJson {
                build_definition: BuildDefinitionJson {
                    build_type: &p.build_type,
                    external_parameters: &p.external_parameters,
                    internal_parameters: &p.internal_parameters,
                    resolved_dependencies: p.resolved_dependencies.iter().map(resource).collect(),
                },
                run_details: RunDetailsJson {
                    builder: BuilderJson {
                        id: &p.builder.id,
                        version: &p.builder.version,
                    },
                    metadata: MetadataJson {
                        invocation_id: &p.invocation_id,
                        started_on: rfc3339(p.started),
                        finished_on: rfc3339(p.finished),
                    },
                },
            },
        }
    }
}

fn resource(d: &Dependency) -> ResourceJson<'_> {
    let mut digest = BTreeMap::new();
    if let Some(sha256) = &d.sha256 {
        digest.insert("sha256", sha256.hex());
    }
    if let Some(commit) = &d.git_commit {
        digest.insert("gitCommit", commit.to_ascii_lowercase());
    }
    ResourceJson {
        name: d.name.as_deref(),
        uri: d.uri.as_deref(),
        digest,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn example() -> Provenance {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        Provenance {
            subjects: vec![Subject {
                name: "hello_1.0_amd64.deb".into(),
                sha256: Digest::of(b"the deb"),
            }],
            build_type: "https://factory.example.org/build-types/command/v1".into(),
            external_parameters: BTreeMap::from([
                ("component".into(), Parameter::Text("hello".into())),
                (
                    "commands".into(),
                    Parameter::List(vec!["make".into(), "make install".into()]),
                ),
            ]),
            internal_parameters: BTreeMap::new(),
            resolved_dependencies: vec![
                Dependency {
                    name: Some("definition".into()),
                    git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                    ..Dependency::default()
                },
                Dependency {
                    uri: Some("https://example.org/hello-1.0.tar.gz".into()),
                    sha256: Some(Digest::of(b"the tarball")),
                    ..Dependency::default()
                },
            ],
            builder: Builder {
                id: "https://factory.example.org/builder".into(),
                version: BTreeMap::from([("factory".into(), "0.1.0".into())]),
            },
            invocation_id: "b12".into(),
            started,
            finished: started + Duration::from_secs(3),
        }
    }

    #[test]
    fn the_statement_has_the_shape_in_toto_reads() {
        let json: serde_json::Value =
            serde_json::from_slice(&statement(&example()).unwrap()).unwrap();
        assert_eq!(json["_type"], STATEMENT_TYPE);
        assert_eq!(json["predicateType"], SLSA_PROVENANCE_V1);
        assert_eq!(
            json["subject"][0]["digest"]["sha256"],
            Digest::of(b"the deb").hex()
        );
        let definition = &json["predicate"]["buildDefinition"];
        assert_eq!(
            definition["externalParameters"]["commands"][1],
            "make install"
        );
        assert_eq!(
            definition["resolvedDependencies"][0]["digest"]["gitCommit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert!(definition.get("internalParameters").is_none());
        let metadata = &json["predicate"]["runDetails"]["metadata"];
        assert_eq!(metadata["startedOn"], "2024-01-01T00:00:00Z");
        assert_eq!(metadata["finishedOn"], "2024-01-01T00:00:03Z");
    }

    #[test]
    fn what_in_toto_or_slsa_would_refuse_is_refused_here() {
        type Change = fn(&mut Provenance);
        let cases: [(Change, &str); 6] = [
            (|p| p.subjects.clear(), "at least one subject"),
            (|p| p.build_type = "command".into(), "not a URI"),
            (|p| p.builder.id = "https:".into(), "not a URI"),
            (|p| p.finished = SystemTime::UNIX_EPOCH, "finished"),
            (
                |p| p.resolved_dependencies[1].sha256 = None,
                "has no digest",
            ),
            (
                |p| p.resolved_dependencies[0].git_commit = Some("abc".into()),
                "40 hex",
            ),
        ];
        for (change, expected) in cases {
            let mut provenance = example();
            change(&mut provenance);
            let message = statement(&provenance).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }
}
