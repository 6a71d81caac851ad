//! Arbitrary bytes into the Debian index readers: decompression by magic
//! bytes, UTF-8 validation, stanza parsing and typed records with every
//! relation parsed. Any input must give records or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz/Packages");
    // Skip huge decompressed outputs: they only slow the fuzzer down.
    let Ok(bytes) = factory_import::compress::decompress(path, data.to_vec()) else {
        return;
    };
    if bytes.len() > 1 << 22 {
        return;
    }
    let Ok(text) = factory_import::compress::to_utf8(path, &bytes) else {
        return;
    };
    let _ = factory_import::debian::parse_packages(path, text);
    let _ = factory_import::debian::parse_sources(path, text);
    let _ = factory_import::relation::parse_relations(text);
});
