//! `factory`: the one binary — the CLI, and in `factory up` the scheduler
//! and its in-process workers (the server comes with a later issue).

mod cli;
mod cmd;
mod fault;
mod output;
mod store_dir;

use std::process::ExitCode;

use clap::Parser;
use factory_types::Fault;

// An import allocates and frees millions of small records (relations,
// names); mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed pages for 10 ms before returning them; during an
/// import that holds transient buffers long enough to raise the peak
/// memory by about 40 MB. Returning them at once costs little time there,
/// but a long-running engine that allocates per build would pay an mmap and
/// munmap again and again, so only imports ask for it.
#[allow(unsafe_code)]
fn return_freed_memory_promptly() {
    // `mi_option_purge_delay`: its position in mimalloc.h's `mi_option_t`
    // (the same in mimalloc 2 and 3); the Rust crate does not name it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a process-wide allocator option; called from main before
    // any other thread exists; every value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    log_to_stderr();
    let cli = cli::Cli::parse();
    if matches!(cli.command, cli::Command::Import(_)) {
        return_freed_memory_promptly();
    }
    let result = cmd::runtime().and_then(|runtime| {
        // The one place that blocks on the runtime: every command is async below it.
        runtime.block_on(cmd::run(cli))
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            let fault = fault::of(&err);
            eprintln!("error: {err:#}");
            if fault == Fault::Factory {
                eprintln!("this is a bug in Factory; please report it with the command that ran");
            }
            ExitCode::from(fault.exit_code())
        }
    }
}

/// What the libraries log (`tracing`) goes to standard error, warnings and worse unless
/// `FACTORY_LOG` says otherwise (`FACTORY_LOG=tower_http=debug` shows every request).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FACTORY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}

/// Rust ignores SIGPIPE, so `factory affected … | head` would see write
/// errors on every later line. Like any Unix filter, the CLI should simply
/// end when its reader goes away.
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
