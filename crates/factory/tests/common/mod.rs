//! Helpers shared by the binary's integration tests.
// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub fn factory() -> Command {
    Command::new(env!("CARGO_BIN_EXE_factory"))
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the command starts")
}

/// `factory --store STORE up ARGS... --definition DEF` running in the foreground (after its
/// first wave it watches), standard output discarded, standard error piped for the caller.
pub fn spawn_up(store: &Path, args: &[&str], def: &Path) -> Child {
    factory()
        .arg("--store")
        .arg(store)
        .arg("up")
        .args(args)
        .arg("--definition")
        .arg(def)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("factory up starts")
}

/// Runs `command`, requires success, returns its standard output.
pub fn ok(command: &mut Command) -> String {
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A `command` component with its source in `src/NAME`, one command, output `out.txt`.
pub fn command_component(name: &str, deps: &[String], command: &str) -> String {
    let requires: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "[component.{name}]\nkind = \"command\"\nsource = {{ path = \"src/{name}\" }}\nbuild-requires = [{}]\ncommands = [{}]\noutputs = [\"out.txt\"]\n\n",
        requires.join(", "),
        serde_json::to_string(command).unwrap()
    )
}

/// Every blob of a stopped factory's store, by digest: the files of its blob store and the
/// small blobs kept in its database, read through the store's own interface.
pub fn stored_blobs(store: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use factory_store::{InlineBlobs as _, Verify};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let opened = factory_store::Store::open(store).await.unwrap();
        let mut blobs = std::collections::BTreeMap::new();
        for (digest, _) in opened.cas().list().unwrap() {
            let bytes = opened.cas().read(&digest, Verify::Yes).unwrap();
            blobs.insert(digest.to_string(), bytes);
        }
        for (digest, _) in opened.db().inline_blob_sizes().await.unwrap() {
            let bytes = opened.db().inline_blob(&digest).await.unwrap().unwrap();
            blobs.insert(digest.to_string(), bytes);
        }
        opened.close().await;
        blobs
    })
}
