//! What every integration test of the binary starts from; the rest of the harness is the
//! `factory-testkit` crate.

use factory_testkit::TestContext;

/// A fresh context for the `factory` binary Cargo built for these tests (whose path only
/// the binary's own tests are told).
pub(crate) fn context() -> TestContext {
    TestContext::new(env!("CARGO_BIN_EXE_factory"))
}
