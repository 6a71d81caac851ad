//! Reading a stopped factory's store through the store's own interface.

use std::collections::BTreeMap;
use std::path::Path;

/// Runs `future` to its end on a runtime of its own.
///
/// The workspace keeps `block_on` to `main` so that nothing blocks the binary's runtime (see
/// the tidy test); this is test support: a synchronous test reading the store of a factory
/// that has stopped blocks no one's runtime but this throwaway one.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Every blob of a stopped factory's store, by digest: the files of its blob store and the
/// small blobs kept in its database.
pub fn stored_blobs(store: &Path) -> BTreeMap<String, Vec<u8>> {
    use factory_store::Verify;
    block_on(async {
        let opened = factory_store::Store::open(store).await.unwrap();
        let mut blobs = BTreeMap::new();
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

/// The cursor of every hook the store knows, by name: whether a running factory has
/// started a hook yet (a hook starts at the end of the log, so a test that adds one waits
/// for this before it makes events for it). Reading beside a running factory is safe: the
/// database is shared between processes.
pub fn hook_cursors(store: &Path) -> Vec<(String, u64)> {
    block_on(async {
        let opened = factory_store::Store::open(store).await.unwrap();
        let cursors = opened.db().hook_cursors().await.unwrap();
        opened.close().await;
        cursors
            .into_iter()
            .map(|(name, seq)| (name, seq.0))
            .collect()
    })
}
