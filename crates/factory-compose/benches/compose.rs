//! The compose of a demo-sized product, signing included: four `.deb`s (one
//! `Architecture: all`), one OCI image, one module stream, the release key in the real
//! `gpg`. Each round writes a new respin into the same root, as releases do, and times
//! `write_compose` from the request to the compose in place (packages read, indexes
//! written and compressed, `InRelease` and `Release.gpg` signed, image copied with every
//! digest checked, metadata written, everything synced, renamed into place).
//!
//! Run with `cargo bench -p factory-compose`; `FACTORY_BENCH_ROUNDS` sets the rounds (30).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Demo, GpgSigner, make_deb};
use factory_compose::{DebInput, write_compose};

fn main() {
    let rounds: usize = std::env::var("FACTORY_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let mut demo = Demo::new();
    let inputs = demo.work.path().join("more");
    fs_err::create_dir_all(&inputs).unwrap();
    let dev = make_deb(&inputs, "libgreet-dev", "1.0.0-1", "amd64", "a library");
    demo.request.debs.push(DebInput::Path(dev));
    let root = demo.root();
    let mut times = Vec::with_capacity(rounds);
    for respin in 0..rounds {
        demo.request.respin = u32::try_from(respin).unwrap();
        let start = Instant::now();
        let written = write_compose(&root, &demo.request, &signer).unwrap();
        times.push(start.elapsed());
        assert_eq!(written.apt.unwrap().packages.len(), 4);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "compose of a demo-sized product (4 .debs, 1 image, 1 module, signed with gpg), {rounds} rounds: \
         median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}
