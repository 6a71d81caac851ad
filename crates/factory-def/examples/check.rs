//! `cargo run -p factory-def --example check -- DIR`: validates a definition directory.
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    match factory_def::load(std::path::Path::new(&dir)) {
        Ok(def) => {
            println!("ok: {}", def.summary());
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprintln!("{diags}");
            ExitCode::FAILURE
        }
    }
}
