//! Engine-side description of one build, independent of the definition format.
//!
//! The integrator maps a component + kind from the factory definition onto a
//! [`BuildSpec`]; the engine never needs to know the TOML format.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::time::Duration;

/// One command of a build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BuildCommand {
    /// Executed directly, program looked up in the sandbox `PATH`.
    Argv(Vec<String>),
    /// Executed by `/bin/sh -c`.
    Shell(String),
}

impl BuildCommand {
    /// The argv actually executed.
    pub fn argv(&self) -> Vec<String> {
        match self {
            BuildCommand::Argv(argv) => argv.clone(),
            BuildCommand::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
        }
    }

    /// Human readable form for logs and error messages.
    pub fn display(&self) -> String {
        match self {
            BuildCommand::Argv(argv) => argv.join(" "),
            BuildCommand::Shell(script) => script.clone(),
        }
    }
}

/// Everything the engine needs to know about how to run one build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildSpec {
    /// Name for logs and errors (normally the component name).
    pub name: String,
    /// Run in order, each in the build's work directory; the first failure stops the build.
    pub commands: Vec<BuildCommand>,
    /// Declared environment, added on top of the fixed clean environment.
    pub env: BTreeMap<String, String>,
    /// Whether the build may reach the network. Without it the build runs in
    /// an empty network namespace (not even host loopback services are reachable).
    pub network: bool,
    /// Wall-clock limit for all commands together.
    pub timeout: Option<Duration>,
    /// Paths or glob patterns (`bin/*`) relative to the output directory;
    /// each must match at least one entry the build produced.
    pub outputs: Vec<String>,
    /// Exported as `SOURCE_DATE_EPOCH` and used as the mtime of archives.
    pub source_date_epoch: u64,
}

/// Default `SOURCE_DATE_EPOCH`: 2000-01-01T00:00:00Z. Any fixed value works;
/// zero is avoided because some tools treat it as "unset".
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 946_684_800;

impl BuildSpec {
    pub fn new(name: impl Into<String>, commands: Vec<BuildCommand>) -> Self {
        BuildSpec {
            name: name.into(),
            commands,
            env: BTreeMap::new(),
            network: false,
            timeout: None,
            outputs: Vec::new(),
            source_date_epoch: DEFAULT_SOURCE_DATE_EPOCH,
        }
    }

    /// Checks what the engine relies on; the definition parser should already
    /// have rejected all of this with file/line context, so this is the last line of defence.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.commands.is_empty() {
            return Err(SpecError::NoCommands);
        }
        for (index, command) in self.commands.iter().enumerate() {
            let argv = command.argv();
            if argv.first().is_none_or(|program| program.is_empty()) {
                return Err(SpecError::EmptyCommand { index });
            }
            if argv.iter().any(|arg| arg.contains('\0')) {
                return Err(SpecError::NulInCommand { index });
            }
        }
        for (name, value) in &self.env {
            validate_env(name, value)?;
        }
        for output in &self.outputs {
            validate_output_path(output)?;
        }
        Ok(())
    }
}

/// Variables the engine sets itself and a build may not override.
pub const RESERVED_ENV: &[&str] = &[
    "HOME",
    "PWD",
    "SOURCE_DATE_EPOCH",
    "FACTORY_SRC",
    "FACTORY_WORK",
    "FACTORY_OUT",
];

/// Input names become a path component (`/build/inputs/NAME`) and an
/// environment variable (`FACTORY_INPUT_NAME`), so they must be safe for
/// both and must not collide after upper-casing.
pub fn validate_input_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), SpecError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in names {
        let safe = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\0'])
            && !name.chars().any(char::is_control);
        if !safe {
            return Err(SpecError::BadInputName { name: name.clone() });
        }
        let variable = crate::exec::input_env_name(name);
        if let Some(other) = seen.insert(variable.clone(), name) {
            return Err(SpecError::InputNameClash {
                first: other.to_string(),
                second: name.clone(),
                variable,
            });
        }
    }
    Ok(())
}

fn validate_env(name: &str, value: &str) -> Result<(), SpecError> {
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(SpecError::BadEnvName { name: name.into() });
    }
    if RESERVED_ENV.contains(&name) || name.starts_with("FACTORY_INPUT_") {
        return Err(SpecError::ReservedEnv { name: name.into() });
    }
    if value.contains('\0') {
        return Err(SpecError::NulInEnv { name: name.into() });
    }
    Ok(())
}

fn validate_output_path(output: &str) -> Result<(), SpecError> {
    let path = Path::new(output);
    let stays_inside = !output.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !stays_inside {
        return Err(SpecError::BadOutputPath {
            path: output.into(),
        });
    }
    glob::Pattern::new(output).map_err(|e| SpecError::BadOutputPattern {
        path: output.into(),
        problem: e.msg.to_string(),
    })?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the build has no commands; a kind must declare at least one command")]
    NoCommands,
    #[error("command {index} is empty; give it a program to run")]
    EmptyCommand { index: usize },
    #[error("command {index} contains a NUL byte, which no process argument can hold")]
    NulInCommand { index: usize },
    #[error(
        "environment variable name `{name}` is invalid: expected letters, digits and `_`, not starting with a digit"
    )]
    BadEnvName { name: String },
    #[error(
        "environment variable `{name}` is set by the engine itself and cannot be declared; rename it"
    )]
    ReservedEnv { name: String },
    #[error("the value of environment variable `{name}` contains a NUL byte")]
    NulInEnv { name: String },
    #[error(
        "declared output `{path}` must be a relative path inside the output directory (no `/` prefix, no `..`)"
    )]
    BadOutputPath { path: String },
    #[error(
        "input name `{name}` cannot name a directory: use a non-empty name without `/`, not `.` or `..`"
    )]
    BadInputName { name: String },
    #[error("inputs `{first}` and `{second}` would both be exported as `{variable}`; rename one")]
    InputNameClash {
        first: String,
        second: String,
        variable: String,
    },
    #[error("declared output `{path}` is not a valid glob pattern: {problem}")]
    BadOutputPattern { path: String, problem: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BuildSpec {
        BuildSpec::new("x", vec![BuildCommand::Shell("true".into())])
    }

    #[test]
    fn input_names_must_be_safe_and_distinct() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_input_names(&names(&["libgreet", "zlib1g-dev"])),
            Ok(())
        );
        for bad in ["", ".", "..", "../work", "a/b"] {
            assert_eq!(
                validate_input_names(&names(&[bad])),
                Err(SpecError::BadInputName { name: bad.into() })
            );
        }
        assert!(matches!(
            validate_input_names(&names(&["lib-x", "lib_x"])),
            Err(SpecError::InputNameClash { variable, .. }) if variable == "FACTORY_INPUT_LIB_X"
        ));
    }

    #[test]
    fn valid_spec_passes() {
        let mut s = spec();
        s.env.insert("CFLAGS".into(), "-O2".into());
        s.outputs.push("usr/bin/x".into());
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn each_kind_of_bad_spec_is_named() {
        let mut s = spec();
        s.commands.clear();
        assert_eq!(s.validate(), Err(SpecError::NoCommands));

        let mut s = spec();
        s.commands.push(BuildCommand::Argv(vec![]));
        assert_eq!(s.validate(), Err(SpecError::EmptyCommand { index: 1 }));

        let mut s = spec();
        s.env.insert("1X".into(), "v".into());
        assert!(matches!(s.validate(), Err(SpecError::BadEnvName { .. })));

        let mut s = spec();
        s.env.insert("HOME".into(), "/".into());
        assert!(matches!(s.validate(), Err(SpecError::ReservedEnv { .. })));

        let mut s = spec();
        s.outputs.push("bin/[".into());
        assert!(matches!(
            s.validate(),
            Err(SpecError::BadOutputPattern { .. })
        ));

        for bad in ["/etc/passwd", "../x", "a/../../b", ""] {
            let mut s = spec();
            s.outputs.push(bad.into());
            assert_eq!(
                s.validate(),
                Err(SpecError::BadOutputPath { path: bad.into() }),
                "{bad}"
            );
        }
    }
}
