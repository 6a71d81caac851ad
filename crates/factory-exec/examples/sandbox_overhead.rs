//! Measures what one trivial build costs with and without the sandbox.
//!
//! `cargo run --release -p factory-engine --example sandbox_overhead [BUILDS]`

use std::time::Instant;

use factory_exec::{BuildCommand, BuildRequest, BuildRunner, BuildSpec, Sandbox};

#[tokio::main]
async fn main() {
    let builds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let scratch = tempfile::tempdir().expect("a temporary directory");
    for sandbox in [Sandbox::plain(), Sandbox::detect().await] {
        let runner = BuildRunner::new(sandbox.clone(), scratch.path().join("work"));
        let started = Instant::now();
        for i in 0..builds {
            let spec = BuildSpec::new(
                "trivial",
                vec![BuildCommand::Shell(
                    "echo built > $FACTORY_OUT/result".into(),
                )],
            );
            let out = scratch.path().join(format!("{}-{i}", sandbox.describe()));
            if let Err(failure) = runner.run(BuildRequest::new(spec, out)).await {
                eprintln!("build failed: {failure}");
                std::process::exit(1);
            }
        }
        let per_build = started.elapsed() / builds as u32;
        println!(
            "{:<10} {builds} builds, {per_build:?} per build",
            sandbox.describe()
        );
    }
}
