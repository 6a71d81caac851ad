//! modulemd v2 documents, one per module stream, as libmodulemd reads them.
//!
//! modulemd names RPMs; a module of Debian packages maps onto it field by field: the
//! components keep their names (`components.rpms`), and each artifact is its `.deb` in
//! `N-E:V-R.A` form: the Debian version `[E:]U[-R]` gives epoch `E` (0 when absent),
//! version `U` and release `R` (`0` for a native package, which has none), and the
//! architecture is its RPM name (`x86_64`; `all` is `noarch`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::arch;
use crate::deb::Deb;
use crate::error::ComposeError;
use crate::request::{BuildOrder, ModuleDependencies, ModuleStream};

/// A module stream as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenModule {
    /// `NAME:STREAM:VERSION:CONTEXT`, the module's subject identifier.
    pub nsvc: String,
    /// The document, in the published compose.
    pub path: std::path::PathBuf,
    /// Its artifacts, `N-E:V-R.A`.
    pub artifacts: Vec<String>,
}

/// A module stream checked against the compose's packages, with its document rendered.
#[derive(Debug)]
pub(crate) struct CheckedModule {
    pub(crate) nsvc: String,
    pub(crate) file_name: String,
    /// `N-E:V-R.A` and its RPM architecture.
    pub(crate) artifacts: Vec<(String, &'static str)>,
    pub(crate) document: String,
}

/// Checks `module` (its names, its components' order, that each artifact is one of
/// `debs`) and renders its document.
pub(crate) fn check_module(
    module: &ModuleStream,
    debs: &[Deb<'_>],
) -> Result<CheckedModule, ComposeError> {
    let what = format!("module stream `{}:{}`", module.name, module.stream);
    let bad = |problem: String| ComposeError::invalid(what.clone(), problem);
    check_fields(module).map_err(&bad)?;
    check_components(module).map_err(&bad)?;
    let mut artifacts = Vec::new();
    for package in &module.artifacts {
        let found: Vec<&Deb<'_>> = debs.iter().filter(|d| d.package == *package).collect();
        if found.is_empty() {
            let known: BTreeSet<&str> = debs.iter().map(|d| d.package.as_str()).collect();
            return Err(bad(format!(
                "artifact `{package}` is not a package of this compose (packages: {known:?})"
            )));
        }
        for deb in found {
            artifacts.push(nevra(deb));
        }
    }
    artifacts.sort();
    artifacts.dedup();
    let nsvc = format!(
        "{}:{}:{}:{}",
        module.name, module.stream, module.version, module.context
    );
    let file_name = format!(
        "{}-{}-{}-{}.modulemd.yaml",
        module.name, module.stream, module.version, module.context
    );
    let names: Vec<String> = artifacts.iter().map(|(n, _)| n.clone()).collect();
    let document = render(module, &names).map_err(|e| ComposeError::Render {
        what: "a modulemd document",
        problem: e.to_string(),
    })?;
    Ok(CheckedModule {
        nsvc,
        file_name,
        artifacts,
        document,
    })
}

/// `N-E:V-R.A` of a package.
fn nevra(deb: &Deb<'_>) -> (String, &'static str) {
    let (epoch, rest) = match deb.version.split_once(':') {
        Some((epoch, rest)) => (epoch, rest),
        None => ("0", deb.version.as_str()),
    };
    let (version, release) = rest.rsplit_once('-').unwrap_or((rest, "0"));
    let rpm_arch = arch::rpm_of_debian(&deb.architecture).unwrap_or("noarch");
    (
        format!("{}-{epoch}:{version}-{release}.{rpm_arch}", deb.package),
        rpm_arch,
    )
}

fn check_fields(module: &ModuleStream) -> Result<(), String> {
    let is_part = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    };
    if !is_part(&module.name) || !is_part(&module.stream) {
        return Err("the name and the stream must be letters, digits, `.`, `_`, `+` and `-` (they become `NAME:STREAM:VERSION:CONTEXT`)".into());
    }
    let context_ok = (1..=10).contains(&module.context.len())
        && module
            .context
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !context_ok {
        return Err(format!(
            "context `{}`: expected 1 to 10 letters, digits or `_`",
            module.context
        ));
    }
    if module.summary.trim().is_empty() || module.summary.contains('\n') {
        return Err("summary: expected one non-empty line".into());
    }
    if module.description.trim().is_empty() {
        return Err("description: modulemd requires one".into());
    }
    if module.license.is_empty() || module.license.iter().any(|l| l.trim().is_empty()) {
        return Err(
            "license: modulemd requires at least one license of the module (e.g. `MIT`)".into(),
        );
    }
    Ok(())
}

/// Every component once, with a rationale, all ordered the same way, after components of
/// the module only.
fn check_components(module: &ModuleStream) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for component in &module.components {
        if !names.insert(component.name.as_str()) {
            return Err(format!("component `{}` is listed twice", component.name));
        }
        if component.rationale.trim().is_empty() {
            return Err(format!(
                "component `{}` has no rationale (modulemd requires one)",
                component.name
            ));
        }
    }
    let batches = module
        .components
        .iter()
        .filter(|c| matches!(c.order, BuildOrder::Batch(_)))
        .count();
    if batches != 0 && batches != module.components.len() {
        return Err("components mix batches (buildorder) and buildafter: modulemd allows one form per stream".into());
    }
    for component in &module.components {
        if let BuildOrder::After(after) = &component.order {
            if let Some(unknown) = after.iter().find(|a| !names.contains(a.as_str())) {
                return Err(format!(
                    "component `{}` builds after `{unknown}`, which is not a component of the module",
                    component.name
                ));
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Document<'a> {
    document: &'static str,
    version: u32,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    name: &'a str,
    stream: &'a str,
    version: u64,
    context: &'a str,
    summary: &'a str,
    description: &'a str,
    license: License<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependencies<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    profiles: BTreeMap<&'a str, Profile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<Rpms<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Components<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifacts: Option<Rpms<'a>>,
}

#[derive(Serialize)]
struct License<'a> {
    module: &'a [String],
}

#[derive(Serialize)]
struct Dependencies<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    buildrequires: &'a BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    requires: &'a BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
struct Profile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    rpms: &'a [String],
}

#[derive(Serialize)]
struct Rpms<'a> {
    rpms: &'a [String],
}

#[derive(Serialize)]
struct Components<'a> {
    rpms: BTreeMap<&'a str, Component<'a>>,
}

#[derive(Serialize)]
struct Component<'a> {
    rationale: &'a str,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    git_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buildorder: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buildafter: Option<&'a [String]>,
}

fn render(module: &ModuleStream, artifacts: &[String]) -> Result<String, serde_norway::Error> {
    let dependencies = module
        .dependencies
        .iter()
        .filter(|d| !d.buildrequires.is_empty() || !d.requires.is_empty())
        .map(|d: &ModuleDependencies| Dependencies {
            buildrequires: &d.buildrequires,
            requires: &d.requires,
        })
        .collect();
    let profiles = module
        .profiles
        .iter()
        .map(|(name, p)| {
            let profile = Profile {
                description: p.description.as_deref(),
                rpms: &p.packages,
            };
            (name.as_str(), profile)
        })
        .collect();
    let components: BTreeMap<&str, Component<'_>> = module
        .components
        .iter()
        .map(|c| {
            let (buildorder, buildafter) = match &c.order {
                BuildOrder::Batch(batch) => (Some(*batch), None),
                BuildOrder::After(after) => (None, Some(after.as_slice())),
            };
            let component = Component {
                rationale: &c.rationale,
                git_ref: c.git_ref.as_deref(),
                buildorder,
                buildafter,
            };
            (c.name.as_str(), component)
        })
        .collect();
    let document = Document {
        document: "modulemd",
        version: 2,
        data: Data {
            name: &module.name,
            stream: &module.stream,
            version: module.version,
            context: &module.context,
            summary: &module.summary,
            description: &module.description,
            license: License {
                module: &module.license,
            },
            dependencies,
            profiles,
            api: (!module.api.is_empty()).then_some(Rpms { rpms: &module.api }),
            components: (!components.is_empty()).then_some(Components { rpms: components }),
            artifacts: (!artifacts.is_empty()).then_some(Rpms { rpms: artifacts }),
        },
    };
    Ok(format!("---\n{}...\n", serde_norway::to_string(&document)?))
}

/// A module version from the release's time, as the Module Build Service makes them: the
/// UTC time as the digits `YYYYMMDDhhmmss` (20261203120000), which grows with time.
pub fn module_version(at: std::time::SystemTime) -> u64 {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::OffsetDateTime::from(at)
        .format(&format)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// A module context from its dependencies: the first 8 hex digits of the sha256 of them
/// written out in order, so two builds of a stream against different dependencies differ
/// and two against the same ones agree.
pub fn module_context(dependencies: &[ModuleDependencies]) -> String {
    let mut text = String::new();
    for dependency in dependencies {
        for (kind, map) in [
            ("buildrequires", &dependency.buildrequires),
            ("requires", &dependency.requires),
        ] {
            for (module, streams) in map {
                text.push_str(&format!("{kind} {module}:{}\n", streams.join(",")));
            }
        }
        text.push_str("--\n");
    }
    factory_types::Digest::of(text.as_bytes()).hex()[..8].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{ModuleComponent, ModuleProfile};

    fn module() -> ModuleStream {
        let component = |name: &str, order| ModuleComponent {
            name: name.into(),
            rationale: "part of it".into(),
            git_ref: None,
            order,
        };
        ModuleStream {
            name: "greet".into(),
            stream: "1.0".into(),
            version: 20261203120000,
            context: "abcd1234".into(),
            summary: "greetings".into(),
            description: "More about greetings.".into(),
            license: vec!["MIT".into()],
            dependencies: vec![ModuleDependencies::default()],
            profiles: BTreeMap::from([(
                "default".into(),
                ModuleProfile {
                    description: None,
                    packages: vec!["hello".into()],
                },
            )]),
            api: vec![],
            components: vec![
                component("libgreet", BuildOrder::After(vec![])),
                component("hello", BuildOrder::After(vec!["libgreet".into()])),
            ],
            artifacts: vec![],
        }
    }

    #[test]
    fn a_document_keeps_a_numeric_looking_stream_a_string_and_the_version_a_number() {
        let checked = check_module(&module(), &[]).unwrap();
        assert_eq!(checked.nsvc, "greet:1.0:20261203120000:abcd1234");
        assert_eq!(
            checked.file_name,
            "greet-1.0-20261203120000-abcd1234.modulemd.yaml"
        );
        let doc = &checked.document;
        assert!(
            doc.starts_with("---\ndocument: modulemd\nversion: 2\n"),
            "{doc}"
        );
        assert!(doc.ends_with("...\n"), "{doc}");
        assert!(doc.contains("  stream: '1.0'\n"), "{doc}");
        assert!(doc.contains("  version: 20261203120000\n"), "{doc}");
        // Empty parts are left out rather than written empty.
        assert!(!doc.contains("dependencies"), "{doc}");
        assert!(!doc.contains("api:"), "{doc}");
        assert!(!doc.contains("artifacts:"), "{doc}");
    }

    #[test]
    fn streams_modulemd_would_refuse_or_misread_are_refused_first() {
        type Change = fn(&mut ModuleStream);
        let cases: [(Change, &str); 7] = [
            (
                |m| m.stream = "a:b".into(),
                "the name and the stream must be",
            ),
            (
                |m| m.context = "far-too-long-context".into(),
                "context `far-too-long-context`",
            ),
            (|m| m.summary = String::new(), "summary"),
            (|m| m.license.clear(), "license"),
            (
                |m| m.components[0].order = BuildOrder::Batch(0),
                "mix batches (buildorder) and buildafter",
            ),
            (
                |m| m.components[1].order = BuildOrder::After(vec!["libc".into()]),
                "builds after `libc`, which is not a component",
            ),
            (
                |m| m.components[1].name = "libgreet".into(),
                "component `libgreet` is listed twice",
            ),
        ];
        for (change, expected) in cases {
            let mut stream = module();
            change(&mut stream);
            let error = check_module(&stream, &[]).unwrap_err().to_string();
            assert!(error.starts_with("module stream `greet:"), "{error}");
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn versions_come_from_the_time_and_contexts_from_the_dependencies() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_299_200);
        assert_eq!(module_version(at), 20261203120000);
        let platform = |stream: &str| ModuleDependencies {
            buildrequires: BTreeMap::from([("platform".into(), vec![stream.into()])]),
            requires: BTreeMap::new(),
        };
        let one = module_context(&[platform("f40")]);
        assert_eq!(one.len(), 8);
        assert_eq!(one, module_context(&[platform("f40")]));
        assert_ne!(one, module_context(&[platform("f41")]));
    }
}
