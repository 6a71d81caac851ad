//! modulemd v2 documents (a module stream: its components, build order,
//! profiles and dependencies) from a multi-document YAML stream, as found
//! in `modules.yaml` of a repository or written by packagers.
//!
//! The YAML is read by serde into wire types that mirror the format; the
//! domain types below keep only what the factory needs, after checks the
//! format's schema cannot express (build order consistency, references).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::ImportError;

/// One module stream build (NSVC = name:stream:version:context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    /// Usually a timestamp; 0 when the document does not say.
    pub version: u64,
    pub context: Option<String>,
    pub arch: Option<String>,
    pub summary: Option<String>,
    /// Profile name -> RPM names installed by it.
    pub profiles: BTreeMap<String, Vec<String>>,
    /// RPM components, in document order.
    pub components: Vec<ModuleComponent>,
    /// Module name -> streams, merged over all `dependencies` entries (an
    /// empty list means any stream; `-name` excludes a stream).
    pub buildrequires: BTreeMap<String, Vec<String>>,
    pub requires: BTreeMap<String, Vec<String>>,
    /// 1-based line where the document starts in the file.
    pub line: usize,
}

/// An RPM component of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleComponent {
    pub name: String,
    pub rationale: Option<String>,
    /// The `ref` key: the git branch, tag or commit to build.
    pub git_ref: Option<String>,
    pub repository: Option<String>,
    /// Components build in ascending `buildorder` batches (default 0)...
    pub buildorder: i64,
    /// ...or after the named components (never both in one module).
    pub buildafter: Vec<String>,
    pub buildonly: bool,
}

/// Reads a YAML file and returns its modulemd v2 streams.
pub fn load_modulemd(path: &Path) -> Result<Vec<ModuleStream>, ImportError> {
    crate::compress::with_text(path, |text| parse_modulemd(path, text))
}

/// Parses a YAML stream; documents of other types (`modulemd-defaults`,
/// `modulemd-translations`, `modulemd-obsoletes`) are skipped.
pub fn parse_modulemd(file: &Path, text: &str) -> Result<Vec<ModuleStream>, ImportError> {
    // First pass: only the document type and version of every document,
    // so documents of other types never meet the stream schema.
    let mut headers = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        // An empty document (a comment-only file, a trailing `---`) is null.
        let header =
            Option::<WireHeader>::deserialize(document).map_err(|e| yaml_error(file, text, &e))?;
        headers.push(header);
    }
    let starts = document_start_lines(text);
    let mut streams = Vec::new();
    for (index, (document, header)) in serde_norway::Deserializer::from_str(text)
        .zip(&headers)
        .enumerate()
    {
        let line = starts.get(index).copied().unwrap_or(1);
        let Some(header) = header else {
            continue;
        };
        if header.document != "modulemd" {
            continue;
        }
        if header.version != 2 {
            return Err(ImportError::syntax(
                file,
                (line, 1),
                "modulemd version 2",
                format!("version {}", header.version),
                "convert the document to version 2 (modulemd-validator from libmodulemd can check it)",
            ));
        }
        let wire = WireDocument::deserialize(document).map_err(|e| yaml_error(file, text, &e))?;
        streams.push(stream(file, text, line, wire.data)?);
    }
    Ok(streams)
}

fn yaml_error(file: &Path, text: &str, error: &serde_norway::Error) -> ImportError {
    let position = error
        .location()
        .map_or((text.lines().count().max(1), 1), |l| (l.line(), l.column()));
    // The message names what serde wanted; strip the position it repeats.
    let message = error.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    ImportError::syntax(
        file,
        position,
        "a modulemd v2 document (see the modulemd_stream_v2 specification)",
        message,
        "fix the YAML at this position",
    )
}

/// 1-based lines where each document starts (`---` lines; the first
/// document may start without one). Used only to place errors.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_seen = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        let marker = trimmed == "---" || trimmed.starts_with("--- ");
        let first_content = !content_seen
            && !trimmed.is_empty()
            && !trimmed.starts_with('#')
            && !trimmed.starts_with('%');
        if marker || first_content {
            starts.push(number + 1);
            content_seen = true;
        }
    }
    starts
}

/// The 1-based line of the first mention of `word` at or after `from`.
fn line_of(text: &str, from: usize, word: &str) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, line)| line.contains(word))
        .map_or(from, |(number, _)| number + 1)
}

fn stream(
    file: &Path,
    text: &str,
    line: usize,
    data: WireStream,
) -> Result<ModuleStream, ImportError> {
    let missing = |field: &str| {
        ImportError::syntax(
            file,
            (line, 1),
            format!("`data.{field}` in the modulemd document"),
            "a document without it",
            format!("add `{field}:` under `data:`"),
        )
    };
    let name = data.name.ok_or_else(|| missing("name"))?;
    let stream = data.stream.ok_or_else(|| missing("stream"))?;
    let components: Vec<ModuleComponent> = data
        .components
        .rpms
        .into_iter()
        .map(|(name, rpm)| ModuleComponent {
            name,
            rationale: rpm.rationale,
            git_ref: rpm.git_ref,
            repository: rpm.repository,
            buildorder: rpm.buildorder.unwrap_or(0),
            buildafter: rpm.buildafter,
            buildonly: rpm.buildonly,
        })
        .collect();
    check_build_order(file, text, line, &data.components.order_keys, &components)?;
    let mut buildrequires = BTreeMap::new();
    let mut requires = BTreeMap::new();
    for dependencies in data.dependencies {
        merge(&mut buildrequires, dependencies.buildrequires);
        merge(&mut requires, dependencies.requires);
    }
    Ok(ModuleStream {
        name,
        stream,
        version: data.version.unwrap_or(0),
        context: data.context,
        arch: data.arch,
        summary: data.summary,
        profiles: data
            .profiles
            .into_iter()
            .map(|(name, profile)| (name, profile.rpms))
            .collect(),
        components,
        buildrequires,
        requires,
        line,
    })
}

/// `buildorder` and `buildafter` are exclusive within a module, and
/// `buildafter` must name components of the same module.
fn check_build_order(
    file: &Path,
    text: &str,
    line: usize,
    order_keys: &OrderKeys,
    components: &[ModuleComponent],
) -> Result<(), ImportError> {
    if order_keys.buildorder && order_keys.buildafter {
        return Err(ImportError::syntax(
            file,
            (line_of(text, line, "buildafter"), 1),
            "either `buildorder` or `buildafter` in one module",
            "both",
            "use only one way of ordering the components of a module",
        ));
    }
    for component in components {
        for after in &component.buildafter {
            if !components.iter().any(|other| &other.name == after) {
                return Err(ImportError::syntax(
                    file,
                    (line_of(text, line, after), 1),
                    format!(
                        "a component of this module in `buildafter` of `{}`",
                        component.name
                    ),
                    format!("`{after}`"),
                    "name a component listed under `components: rpms:`",
                ));
            }
            if after == &component.name {
                return Err(ImportError::syntax(
                    file,
                    (line_of(text, line, &component.name), 1),
                    "another component in `buildafter`",
                    format!("`{after}` itself"),
                    "a component cannot build after itself",
                ));
            }
        }
    }
    Ok(())
}

fn merge(into: &mut BTreeMap<String, Vec<String>>, from: BTreeMap<String, Vec<String>>) {
    for (module, streams) in from {
        let entry = into.entry(module).or_default();
        for stream in streams {
            if !entry.contains(&stream) {
                entry.push(stream);
            }
        }
    }
}

// ---- wire types: the YAML as written ----

#[derive(Deserialize)]
struct WireHeader {
    document: String,
    version: u64,
    #[serde(default, rename = "data")]
    _data: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
struct WireDocument {
    data: WireStream,
}

#[derive(Deserialize)]
struct WireStream {
    name: Option<String>,
    stream: Option<String>,
    version: Option<u64>,
    context: Option<String>,
    arch: Option<String>,
    summary: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, WireProfile>,
    #[serde(default)]
    dependencies: Vec<WireDependencies>,
    #[serde(default)]
    components: WireComponents,
}

#[derive(Deserialize)]
struct WireProfile {
    #[serde(default)]
    rpms: Vec<String>,
}

#[derive(Deserialize)]
struct WireDependencies {
    #[serde(default)]
    buildrequires: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    requires: BTreeMap<String, Vec<String>>,
}

#[derive(Default)]
struct WireComponents {
    /// Components in document order (a map would sort them).
    rpms: Vec<(String, WireRpm)>,
    order_keys: OrderKeys,
}

/// Which ordering keys the components use, to reject mixing them.
#[derive(Default)]
struct OrderKeys {
    buildorder: bool,
    buildafter: bool,
}

impl<'de> Deserialize<'de> for WireComponents {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            rpms: Ordered<WireRpm>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let order_keys = OrderKeys {
            buildorder: raw.rpms.0.iter().any(|(_, rpm)| rpm.buildorder.is_some()),
            buildafter: raw.rpms.0.iter().any(|(_, rpm)| !rpm.buildafter.is_empty()),
        };
        Ok(Self {
            rpms: raw.rpms.0,
            order_keys,
        })
    }
}

#[derive(Deserialize)]
struct WireRpm {
    rationale: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    repository: Option<String>,
    buildorder: Option<i64>,
    #[serde(default)]
    buildafter: Vec<String>,
    #[serde(default)]
    buildonly: bool,
}

/// A YAML mapping kept in document order.
struct Ordered<T>(Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of component names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if entries.iter().any(|(seen, _)| *seen == key) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate component `{key}`"
                        )));
                    }
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}
