//! Build keys: a sha256 over a canonical encoding of everything that can
//! influence a build's outputs.
//!
//! Encoding: a format tag and version, then named fields in a fixed order;
//! every byte string is prefixed with its length (u64 little endian), every
//! list with its element count, every map is sorted by key. No two different
//! materials can therefore produce the same byte stream.

use std::collections::BTreeMap;

use factory_exec::{BuildCommand, BuildSpec};
use factory_types::{BuildKey, Digest};
use sha2::{Digest as _, Sha256};

/// Bump whenever the encoding below, or the way the engine runs builds,
/// changes in a way that could change outputs: every key changes with it.
pub const BUILD_KEY_FORMAT_VERSION: u32 = 1;

/// Everything that goes into a build key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// Name of the kind (e.g. `deb`, `command`).
    pub kind: String,
    /// The kind's commands, env, network flag and outputs after placeholder
    /// expansion. The timeout is deliberately not part of the key: it limits a
    /// build but does not change what a successful build produces.
    pub spec: BuildSpec,
    /// Component-specific parameters of the recipe (version, flags, ...).
    pub recipe: BTreeMap<String, String>,
    /// [`factory_exec::digest_tree`] of the source, if the build has one.
    pub source_digest: Option<Digest>,
    /// Output digests of the build's inputs by input name.
    pub inputs: BTreeMap<String, Digest>,
    /// Facts about the build environment (architecture, sandbox mode,
    /// toolchain identity, ...).
    pub environment: BTreeMap<String, String>,
}

impl KeyMaterial {
    pub fn key(&self) -> BuildKey {
        let mut enc = Encoder(Sha256::new());
        enc.bytes(b"factory-build-key");
        enc.u64(u64::from(BUILD_KEY_FORMAT_VERSION));
        enc.field("kind", |e| e.bytes(self.kind.as_bytes()));
        enc.field("commands", |e| {
            e.u64(self.spec.commands.len() as u64);
            for command in &self.spec.commands {
                e.command(command);
            }
        });
        enc.field("env", |e| e.map(&self.spec.env));
        enc.field("network", |e| e.u64(u64::from(self.spec.network)));
        enc.field("outputs", |e| {
            let mut outputs: Vec<&String> = self.spec.outputs.iter().collect();
            outputs.sort();
            outputs.dedup();
            e.u64(outputs.len() as u64);
            for output in outputs {
                e.bytes(output.as_bytes());
            }
        });
        enc.field("source_date_epoch", |e| e.u64(self.spec.source_date_epoch));
        enc.field("recipe", |e| e.map(&self.recipe));
        enc.field("source", |e| match &self.source_digest {
            None => e.u64(0),
            Some(digest) => {
                e.u64(1);
                e.bytes(digest.as_bytes());
            }
        });
        enc.field("inputs", |e| {
            e.u64(self.inputs.len() as u64);
            for (name, digest) in &self.inputs {
                e.bytes(name.as_bytes());
                e.bytes(digest.as_bytes());
            }
        });
        enc.field("environment", |e| e.map(&self.environment));
        BuildKey(Digest::from_bytes(enc.0.finalize().into()))
    }
}

struct Encoder(Sha256);

impl Encoder {
    fn u64(&mut self, value: u64) {
        self.0.update(value.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.update(bytes);
    }

    /// Field names make the encoding self-describing, so reordering or
    /// adding fields can never silently collide with an older layout.
    fn field(&mut self, name: &str, write: impl FnOnce(&mut Self)) {
        self.bytes(name.as_bytes());
        write(self);
    }

    fn map(&mut self, map: &BTreeMap<String, String>) {
        self.u64(map.len() as u64);
        for (k, v) in map {
            self.bytes(k.as_bytes());
            self.bytes(v.as_bytes());
        }
    }

    fn command(&mut self, command: &BuildCommand) {
        match command {
            BuildCommand::Argv(argv) => {
                self.u64(0);
                self.u64(argv.len() as u64);
                for arg in argv {
                    self.bytes(arg.as_bytes());
                }
            }
            BuildCommand::Shell(script) => {
                self.u64(1);
                self.bytes(script.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn material() -> KeyMaterial {
        let mut spec = BuildSpec::new(
            "libgreet",
            vec![
                BuildCommand::Shell("cc -c greet.c".into()),
                BuildCommand::Argv(vec!["ar".into(), "rcs".into(), "libgreet.a".into()]),
            ],
        );
        spec.env.insert("CFLAGS".into(), "-O2".into());
        spec.outputs = vec!["lib/libgreet.a".into(), "include/greet.h".into()];
        KeyMaterial {
            kind: "command".into(),
            spec,
            recipe: BTreeMap::from([("version".into(), "1.0".into())]),
            source_digest: Some(Digest::of(b"source")),
            inputs: BTreeMap::from([
                ("libc".into(), Digest::of(b"libc")),
                ("zlib".into(), Digest::of(b"zlib")),
            ]),
            environment: BTreeMap::from([("arch".into(), "amd64".into())]),
        }
    }

    /// Each mutation changes exactly one thing that can influence a build.
    type Mutation = (&'static str, fn(&mut KeyMaterial));

    fn mutations() -> Vec<Mutation> {
        vec![
            ("kind", |m| m.kind = "deb".into()),
            ("command text", |m| {
                m.spec.commands[0] = BuildCommand::Shell("cc -O3 -c greet.c".into())
            }),
            ("command form", |m| {
                m.spec.commands[1] = BuildCommand::Shell("ar rcs libgreet.a".into())
            }),
            ("command order", |m| m.spec.commands.reverse()),
            ("extra command", |m| {
                m.spec.commands.push(BuildCommand::Shell("true".into()))
            }),
            ("env value", |m| {
                m.spec.env.insert("CFLAGS".into(), "-O3".into());
            }),
            ("env added", |m| {
                m.spec.env.insert("LDFLAGS".into(), String::new());
            }),
            ("network", |m| m.spec.network = true),
            ("outputs", |m| m.spec.outputs.push("lib/libgreet.so".into())),
            ("epoch", |m| m.spec.source_date_epoch += 1),
            ("recipe", |m| {
                m.recipe.insert("version".into(), "1.1".into());
            }),
            ("source digest", |m| {
                m.source_digest = Some(Digest::of(b"source2"))
            }),
            ("no source", |m| m.source_digest = None),
            ("input digest", |m| {
                m.inputs.insert("zlib".into(), Digest::of(b"zlib2"));
            }),
            ("input renamed", |m| {
                let d = m.inputs.remove("zlib").unwrap();
                m.inputs.insert("zlib1".into(), d);
            }),
            ("input removed", |m| {
                m.inputs.remove("libc");
            }),
            ("environment", |m| {
                m.environment.insert("arch".into(), "arm64".into());
            }),
        ]
    }

    #[test]
    fn key_changes_when_any_input_changes() {
        let base = material().key();
        let mut seen = vec![base];
        for (what, mutate) in mutations() {
            let mut m = material();
            mutate(&mut m);
            let key = m.key();
            assert_ne!(key, base, "changing {what} must change the key");
            assert!(
                !seen.contains(&key),
                "{what} collides with another mutation"
            );
            seen.push(key);
        }
    }

    #[test]
    fn key_is_stable_when_nothing_relevant_changes() {
        let base = material().key();
        assert_eq!(material().key(), base, "same material, same key");

        let mut m = material();
        m.spec.timeout = Some(Duration::from_secs(5));
        m.spec.name = "renamed-for-logs".into();
        m.spec.outputs.reverse();
        assert_eq!(
            m.key(),
            base,
            "timeout, display name, output order don't matter"
        );
    }

    #[test]
    fn length_prefixing_prevents_field_boundary_collisions() {
        let mut a = material();
        a.spec.env = BTreeMap::from([("AB".into(), "C".into())]);
        let mut b = material();
        b.spec.env = BTreeMap::from([("A".into(), "BC".into())]);
        assert_ne!(a.key(), b.key());

        let mut a = material();
        a.spec.commands = vec![BuildCommand::Argv(vec!["a b".into()])];
        let mut b = material();
        b.spec.commands = vec![BuildCommand::Argv(vec!["a".into(), "b".into()])];
        assert_ne!(a.key(), b.key());
    }

    #[test]
    fn key_is_pinned_for_this_format_version() {
        // If this changes, the encoding changed: bump BUILD_KEY_FORMAT_VERSION
        // and update the value, otherwise stored keys silently mean something else.
        let key = material().key().to_string();
        assert_eq!(key.len(), 64);
        assert_eq!(key, PINNED_KEY);
    }

    const PINNED_KEY: &str = "56ce7fd93963f583fe84682f3ec19c4e816de2f014167549d85ad98373a5f7f6";
}
