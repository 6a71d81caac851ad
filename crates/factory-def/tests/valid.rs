//! Valid definitions load into the expected domain values; the bundled example is real.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use factory_def::{Definition, ImageBase, Recipe, Source, Var};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

fn complete() -> Definition {
    let text = include_str!("valid/complete.toml");
    match factory_def::parse_str("complete.toml", text) {
        Ok(def) => def,
        Err(diagnostics) => panic!("complete.toml must be valid:\n{diagnostics}"),
    }
}

fn demo() -> Definition {
    match factory_def::load(&demo_dir()) {
        Ok(def) => def,
        Err(diagnostics) => panic!("the demo must be valid:\n{diagnostics}"),
    }
}

#[test]
fn complete_definition_lowers_every_construct() {
    let def = complete();
    assert_eq!(
        def.summary().to_string(),
        "1 file: 5 components, 1 kind, 1 module, 2 images, 1 product, 1 test, 1 policy"
    );

    let kind = def.kind("autotools").expect("kind");
    assert!(kind.network);
    assert_eq!(kind.timeout, Duration::from_secs(90 * 60));
    assert_eq!(
        kind.commands[3].render(|_| unreachable!()),
        "echo literal {braces} ${HOME}"
    );
    assert_eq!(
        kind.env["DEPS"].vars().collect::<Vec<_>>(),
        vec![&Var::Deps]
    );
    assert_eq!(kind.outputs, vec!["usr/bin/*", "usr/lib/*.so*"]);

    let zlib = def.component("zlib").expect("zlib");
    assert_eq!(
        zlib.source,
        Some(Source::Tarball {
            url: "https://example.org/zlib-1.3.tar.gz".into(),
            sha256: "ff0ba4c292013dbc27530b3a81e1f9a813cd39de01ca5e0f8bf355702efa593e".into(),
        })
    );
    assert_eq!(zlib.packages, vec!["zlib"]);
    assert_eq!(zlib.origin.to_string(), "complete.toml:17:12");

    let php = def.component("php").expect("php");
    assert_eq!(php.packages, vec!["php-cli", "php-common"]);
    let Recipe::Kind { kind, params } = &php.recipe else {
        panic!("php uses a declared kind: {:?}", php.recipe)
    };
    assert_eq!(kind, "autotools");
    assert_eq!(params["configure-flags"], "--with-zlib={dep.zlib}");
    assert_eq!(
        php.source_for(Some("7.3")),
        Some(&Source::Git {
            url: "https://example.org/php-src.git".into(),
            rev: "PHP-7.3".into()
        })
    );
    assert_eq!(
        php.source_for(Some("7.4")),
        Some(&Source::Git {
            url: "https://example.org/php-src.git".into(),
            rev: "PHP-7.4".into()
        })
    );
    assert_eq!(php.streams["7.3"].version.as_deref(), Some("7.3.33"));

    let Recipe::Deb(deb) = &def.component("php-cli-deb").expect("deb").recipe else {
        panic!("deb recipe")
    };
    assert_eq!(
        (
            deb.from.as_str(),
            deb.package.as_str(),
            deb.version.as_str(),
            deb.prefix.as_str()
        ),
        ("php", "php7.4-cli", "7.4.33-1", "/opt/php")
    );
    assert_eq!(deb.description, "PHP command line interpreter");
    assert_eq!(deb.depends, vec!["libc6 (>= 2.36)", "zlib1g | zlib-ng"]);
    assert_eq!(
        def.component_for_package("php7.4-cli")
            .map(|c| c.name.as_str()),
        Some("php-cli-deb")
    );
    // php's output is packaged by php-tarball and php-cli-deb, but php declares its packages.
    assert_eq!(
        def.component_for_package("php-cli")
            .map(|c| c.name.as_str()),
        Some("php")
    );

    let module = def.module("php").expect("module");
    assert_eq!(
        module.build_order,
        vec![
            vec!["zlib".to_string()],
            vec!["php".into()],
            vec!["php-cli-deb".into()]
        ],
        "derived from build inputs when not given"
    );
    assert_eq!(module.streams["7.3"].components["php"], "7.3");
    assert_eq!(module.profiles["cli"].packages, vec!["php7.4-cli"]);

    assert_eq!(
        def.image("base").expect("base").base,
        ImageBase::OciLayout("layouts/debian-slim".into())
    );
    assert_eq!(
        def.image("php").expect("php").base,
        ImageBase::Image("base".into())
    );

    let product = def.product("web").expect("product");
    let eol: BTreeMap<&str, String> = product
        .streams
        .iter()
        .map(|(n, s)| (n.as_str(), s.end_of_life.to_string()))
        .collect();
    assert_eq!(eol["2026"], "2028-02-29");
    assert_eq!(eol["lts"], "2031-12-31");
    assert_eq!(product.streams["2026"].modules["php"], "7.4");

    let test = &def.tests["php-runs"];
    assert_eq!(test.fields["timeout"], toml::Value::Integer(60));
    assert!(test.fields["matrix"].is_table());
    assert_eq!(
        def.policies["security"].fields["max-age-days"],
        toml::Value::Integer(30)
    );

    let order: Vec<&str> = def
        .components_in_build_order()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let position = |n: &str| order.iter().position(|o| *o == n).expect("listed");
    assert_eq!(order.len(), 5);
    assert!(position("zlib") < position("php"));
    assert!(position("php") < position("php-cli-deb"));
    assert!(position("php") < position("php-tarball"));
}

#[test]
fn demo_definition_expresses_the_example_distribution() {
    let def = demo();
    assert_eq!(
        def.summary().to_string(),
        "10 files: 8 components, 2 kinds, 1 module, 1 image, 1 product, 1 test, 1 policy"
    );
    for program in ["hello", "greet-cli"] {
        let c = def.component(program).expect("program");
        assert_eq!(c.build_requires, vec!["libgreet"]);
        assert_eq!(c.kind_name(), "c-program");
        assert!(c.packages.is_empty(), "published through its deb");
    }
    let motd = def.component("motd").expect("motd");
    assert!(
        motd.build_requires.is_empty() && motd.requires.is_empty(),
        "does not use libgreet"
    );
    let image = def.image("greet").expect("image");
    assert_eq!(image.base, ImageBase::Scratch);
    for package in &image.packages {
        let producer = def.component_for_package(package).expect("produced");
        assert_eq!(producer.kind_name(), "deb");
    }
    let product = def.product("demo-os").expect("product");
    assert_eq!(product.images, vec!["greet"]);
    assert_eq!(product.streams["1.0"].end_of_life.to_string(), "2027-12-31");
    assert!(def.files.iter().all(|f| !f.starts_with("src/")));
}

/// Runs the demo's C and shell builds exactly as written, placeholders filled in, and runs
/// the programs they produce: the example builds with cc and sh alone.
#[test]
fn demo_builds_with_cc_and_sh_and_the_programs_run() {
    let def = demo();
    let work = tempfile::tempdir().expect("tempdir");
    let out_dir = |name: &str| work.path().join("out").join(name);
    for component in def.components_in_build_order() {
        let Some(steps) = def.build_steps(component) else {
            assert!(
                matches!(component.recipe, Recipe::Deb(_)),
                "only debs are written by Factory"
            );
            continue;
        };
        assert!(!steps.network);
        let src = def
            .local_source_dir(component.source.as_ref().expect("demo sources are local"))
            .expect("loaded from disk");
        let out = out_dir(&component.name);
        fs_err::create_dir_all(&out).expect("out dir");
        let no_params = BTreeMap::new();
        let params = steps.params.unwrap_or(&no_params);
        let value = |var: &Var| match var {
            Var::Src => src.display().to_string(),
            Var::Out => out.display().to_string(),
            Var::Name => component.name.clone(),
            Var::Version => component.version.clone().unwrap_or_default(),
            Var::Stream => String::new(),
            Var::Deps => component
                .build_inputs()
                .map(|d| out_dir(d).display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            Var::Dep(d) => out_dir(d).display().to_string(),
            Var::Param(p) => params[p].clone(),
        };
        for command in steps.commands {
            let line = command.render(value);
            let status = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .envs(
                    steps
                        .env
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.render(value))),
                )
                .current_dir(work.path())
                .status()
                .expect("sh runs");
            assert!(status.success(), "{}: `{line}` failed", component.name);
        }
    }
    assert!(out_dir("libgreet").join("lib/libgreet.a").is_file());
    assert!(out_dir("libgreet").join("include/greet.h").is_file());
    assert!(
        !out_dir("libgreet").join("obj").exists(),
        "no stray objects in the output"
    );
    let run = |program: &Path, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .output()
            .expect("program runs");
        assert!(output.status.success());
        String::from_utf8(output.stdout).expect("utf-8 output")
    };
    assert_eq!(
        run(&out_dir("hello").join("bin/hello"), &[]),
        "Hello, world!\n"
    );
    assert_eq!(
        run(
            &out_dir("greet-cli").join("bin/greet-cli"),
            &["Ada", "Linus"]
        ),
        "Hello, Ada!\nHello, Linus!\n"
    );
    assert!(run(&out_dir("motd").join("bin/motd"), &[]).starts_with("Welcome to demo-os.\n"));
}

#[test]
fn toml_files_inside_local_sources_are_not_definition_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::create_dir_all(dir.path().join("src/tool")).expect("mkdir");
    fs_err::write(
        dir.path().join("def.toml"),
        "[component.tool]\nkind = \"command\"\nsource = { path = \"src/tool\" }\ncommands = [\"true\"]\n",
    )
    .expect("write");
    fs_err::write(
        dir.path().join("src/tool/Cargo.toml"),
        "[package]\nname = \"tool\"\n",
    )
    .expect("write");
    fs_err::create_dir_all(dir.path().join(".git")).expect("mkdir");
    fs_err::write(dir.path().join(".git/config.toml"), "not = [valid").expect("write");
    let def = factory_def::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(def.files, vec!["def.toml"]);
}

/// Truncations and byte flips of real definition files: always a result, never a panic.
#[test]
fn damaged_definitions_never_panic() {
    let mut inputs = 0;
    for file in [
        "kinds.toml",
        "packages.toml",
        "products.toml",
        "modules.toml",
    ] {
        let bytes = fs_err::read(demo_dir().join(file)).expect("demo file");
        for cut in 0..bytes.len() {
            let _ = factory_def::parse_bytes(file, &bytes[..cut]);
            inputs += 1;
        }
        for (i, flip) in (0..bytes.len()).step_by(7).zip(
            [b'"', b'[', b'{', b'}', 0xff, b'\n', b'=', b'.']
                .iter()
                .cycle(),
        ) {
            let mut damaged = bytes.clone();
            damaged[i] = *flip;
            let _ = factory_def::parse_bytes(file, &damaged);
            inputs += 1;
        }
    }
    assert!(inputs > 1000);
}

/// The complete example of docs/definition.md is a valid definition, so the documentation
/// cannot drift from the format.
#[test]
fn the_documented_complete_example_is_valid() {
    let doc = fs_err::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/definition.md"),
    )
    .expect("docs/definition.md");
    let section = doc
        .split("## A complete example")
        .nth(1)
        .expect("the complete example section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a toml block");
    let def = factory_def::parse_str("definition.md", example).unwrap_or_else(|d| panic!("{d}"));
    let summary = def.summary();
    assert_eq!(
        (
            summary.components,
            summary.kinds,
            summary.modules,
            summary.images,
            summary.products
        ),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(def.tests.len() + def.policies.len(), 2);
    assert_eq!(def.hooks.len(), 2);
}

#[test]
fn hooks_lower_with_their_defaults() {
    let text = r#"
[component.hello]
kind = "command"
commands = ["true"]

[hook.notify]
description = "tell the team"
on = "build.failed"
component = "hello"
command = ["./hooks/notify.sh", "--channel", "releng"]

[hook.chat]
on = ["build.*", "wave.finished"]
post = "https://chat.example.org/hooks/releng"
headers = { Authorization = "Bearer abc" }
timeout = "30s"
tries = 5
network = false
"#;
    // `network` with a post is an error; without it the definition is valid.
    let invalid = factory_def::parse_str("hooks.toml", text).expect_err("network on a post");
    assert_eq!(invalid.len(), 1, "{invalid}");
    let def = factory_def::parse_str(
        "hooks.toml",
        &text.replace(
            "network = false
",
            "",
        ),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    assert!(
        def.summary().to_string().contains("2 hooks"),
        "{}",
        def.summary()
    );

    let notify = def.hook("notify").expect("notify");
    assert_eq!(notify.on, ["build.failed"]);
    assert_eq!(notify.components, ["hello"]);
    assert_eq!(notify.timeout, factory_def::DEFAULT_HOOK_TIMEOUT);
    assert_eq!(notify.tries, factory_def::DEFAULT_HOOK_TRIES);
    assert_eq!(notify.origin.line, 6);
    assert_eq!(
        notify.action,
        factory_def::HookAction::Command {
            argv: vec![
                "./hooks/notify.sh".into(),
                "--channel".into(),
                "releng".into()
            ],
            network: false
        }
    );

    let chat = def.hook("chat").expect("chat");
    assert_eq!(chat.on, ["build.*", "wave.finished"]);
    assert!(chat.components.is_empty());
    assert_eq!((chat.timeout, chat.tries), (Duration::from_secs(30), 5));
    assert_eq!(
        chat.action,
        factory_def::HookAction::Post {
            url: "https://chat.example.org/hooks/releng".into(),
            headers: BTreeMap::from([("Authorization".into(), "Bearer abc".into())]),
        }
    );
}

#[test]
fn release_channels_come_in_release_order_with_their_cadences() {
    use factory_def::Cadence;
    let def = demo();
    let stream = &def.products["demo-os"].streams["1.0"];
    let names: Vec<&str> = stream.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["testing", "stable"]);
    assert_eq!(stream.channels[0].release, Cadence::OnGreen);
    assert_eq!(stream.channels[0].gate.as_deref(), Some("demo-os-testing"));
    assert_eq!(
        stream.channels[1].release,
        Cadence::After {
            age: Duration::from_secs(3 * 24 * 3600),
            channel: "testing".into()
        }
    );
    assert_eq!(stream.eol_warning, factory_def::DEFAULT_EOL_WARNING);

    let text = "[component.a]\nkind = \"command\"\ncommands = [\"true\"]\n\
                [product.p]\ncomponents = [\"a\"]\n[product.p.streams.s]\nend-of-life = 2030-01-01\n";
    let def = factory_def::parse_str("p.toml", text).expect("valid");
    let stream = &def.products["p"].streams["s"];
    assert_eq!(stream.channels.len(), 1, "one channel by default");
    assert_eq!(stream.channels[0].name, "stable");
    assert_eq!(stream.channels[0].release, Cadence::Manual);
    assert_eq!(stream.channels[0].gate, None);
}
