//! The SQLite store behind the backend traits: each method boxes the inherent query of the
//! same name (the queries live beside their SQL, in `mod.rs` and `queries.rs`).

use std::collections::{BTreeMap, HashSet};

use factory_types::{BoxFuture, BuildId, BuildKey, Digest, Seq, WaveId};
use tokio::sync::watch;

use super::SqliteStore;
use crate::backend::{
    Backend, Cursors, EngineQueries, EventLog, HookState, InlineBlobs, Maintenance, Releases,
    Tokens, Views,
};
use crate::cas::{GcReport, InlineBlob};
use crate::error::Result;
use crate::event::{Event, RecordedEvent};
use crate::records::{
    ArtifactRecord, BuildRecord, ComponentRecord, LogChunk, ReleaseRecord, Scope, TokenRecord,
    WaveRecord,
};

impl EventLog for SqliteStore {
    fn append(&self, events: Vec<Event>) -> BoxFuture<'_, Result<Vec<Seq>>> {
        Box::pin(self.submit_with(events, Vec::new(), false))
    }

    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<Vec<Seq>>> {
        Box::pin(self.submit_with(events, Vec::new(), false))
    }

    fn submit_lazy(&self, events: Vec<Event>) -> BoxFuture<'static, Result<Vec<Seq>>> {
        Box::pin(self.submit_with(events, Vec::new(), true))
    }

    fn submit_lazy_with_blobs(
        &self,
        events: Vec<Event>,
        blobs: Vec<InlineBlob>,
    ) -> BoxFuture<'static, Result<Vec<Seq>>> {
        Box::pin(self.submit_with(events, blobs, true))
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(SqliteStore::flush(self))
    }

    fn events_since(&self, after: Seq, limit: u32) -> BoxFuture<'_, Result<Vec<RecordedEvent>>> {
        Box::pin(SqliteStore::events_since(self, after, limit))
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(SqliteStore::last_seq(self))
    }

    fn commits(&self) -> watch::Receiver<Seq> {
        SqliteStore::commits(self)
    }
}

impl EngineQueries for SqliteStore {
    fn succeeded_build_by_key<'a>(
        &'a self,
        key: &'a BuildKey,
    ) -> BoxFuture<'a, Result<Option<BuildRecord>>> {
        Box::pin(SqliteStore::succeeded_build_by_key(self, key))
    }

    fn latest_successful_build<'a>(
        &'a self,
        component: &'a str,
    ) -> BoxFuture<'a, Result<Option<BuildRecord>>> {
        Box::pin(SqliteStore::latest_successful_build(self, component))
    }

    fn latest_successful_builds<'a>(
        &'a self,
        components: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<BuildRecord>>> {
        Box::pin(SqliteStore::latest_successful_builds(self, components))
    }

    fn builds_of_wave(&self, wave: WaveId) -> BoxFuture<'_, Result<Vec<BuildRecord>>> {
        Box::pin(SqliteStore::builds_of_wave(self, wave))
    }

    fn unfinished_waves(&self) -> BoxFuture<'_, Result<Vec<WaveRecord>>> {
        Box::pin(SqliteStore::unfinished_waves(self))
    }

    fn unfinished_builds(&self) -> BoxFuture<'_, Result<Vec<BuildRecord>>> {
        Box::pin(SqliteStore::unfinished_builds(self))
    }
}

impl Views for SqliteStore {
    fn build(&self, id: BuildId) -> BoxFuture<'_, Result<Option<BuildRecord>>> {
        Box::pin(SqliteStore::build(self, id))
    }

    fn latest_build<'a>(
        &'a self,
        component: &'a str,
    ) -> BoxFuture<'a, Result<Option<BuildRecord>>> {
        Box::pin(SqliteStore::latest_build(self, component))
    }

    fn builds_of_component<'a>(
        &'a self,
        component: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BuildRecord>>> {
        Box::pin(SqliteStore::builds_of_component(self, component))
    }

    fn wave(&self, id: WaveId) -> BoxFuture<'_, Result<Option<WaveRecord>>> {
        Box::pin(SqliteStore::wave(self, id))
    }

    fn recent_waves(&self, limit: u32) -> BoxFuture<'_, Result<Vec<WaveRecord>>> {
        Box::pin(SqliteStore::recent_waves(self, limit))
    }

    fn component<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ComponentRecord>>> {
        Box::pin(SqliteStore::component(self, name))
    }

    fn component_names(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(SqliteStore::component_names(self))
    }

    fn webhook_delivery<'a>(
        &'a self,
        forge: &'a str,
        delivery: &'a str,
    ) -> BoxFuture<'a, Result<Option<Seq>>> {
        Box::pin(SqliteStore::webhook_delivery(self, forge, delivery))
    }

    fn components(&self) -> BoxFuture<'_, Result<Vec<ComponentRecord>>> {
        Box::pin(SqliteStore::components(self))
    }

    fn artifacts_of_build(&self, build: BuildId) -> BoxFuture<'_, Result<Vec<ArtifactRecord>>> {
        Box::pin(SqliteStore::artifacts_of_build(self, build))
    }

    fn build_log(&self, build: BuildId, after: Seq) -> BoxFuture<'_, Result<Vec<LogChunk>>> {
        Box::pin(SqliteStore::build_log(self, build, after))
    }
}

impl Maintenance for SqliteStore {
    fn live_digests(&self) -> BoxFuture<'_, Result<HashSet<Digest>>> {
        Box::pin(SqliteStore::live_digests(self))
    }

    fn collect_inline_blobs(&self) -> BoxFuture<'_, Result<GcReport>> {
        Box::pin(self.collect_inline())
    }

    fn rebuild_projections(&self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(self.rebuild())
    }

    fn dump_projections(&self) -> BoxFuture<'_, Result<BTreeMap<String, Vec<String>>>> {
        Box::pin(SqliteStore::dump_projections(self))
    }
}

impl InlineBlobs for SqliteStore {
    fn inline_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(SqliteStore::inline_blob(self, digest))
    }

    fn inline_blobs_present<'a>(
        &'a self,
        digests: &'a [Digest],
    ) -> BoxFuture<'a, Result<HashSet<Digest>>> {
        Box::pin(SqliteStore::inline_blobs_present(self, digests))
    }

    fn inline_blob_sizes(&self) -> BoxFuture<'_, Result<Vec<(Digest, u64)>>> {
        Box::pin(SqliteStore::inline_blob_sizes(self))
    }
}

impl Tokens for SqliteStore {
    fn create_token<'a>(
        &'a self,
        name: &'a str,
        scope: Scope,
        owners: &'a [String],
        hash: &'a Digest,
    ) -> BoxFuture<'a, Result<TokenRecord>> {
        Box::pin(SqliteStore::create_token(self, name, scope, owners, hash))
    }

    fn tokens(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>>> {
        Box::pin(SqliteStore::tokens(self))
    }

    fn revoke_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<TokenRecord>>> {
        Box::pin(SqliteStore::revoke_token(self, name))
    }

    fn token_by_hash<'a>(&'a self, hash: &'a Digest) -> BoxFuture<'a, Result<Option<TokenRecord>>> {
        Box::pin(SqliteStore::token_by_hash(self, hash))
    }
}

impl HookState for SqliteStore {
    fn hook_cursor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Seq>>> {
        Box::pin(SqliteStore::hook_cursor(self, name))
    }

    fn hook_cursors(&self) -> BoxFuture<'_, Result<Vec<(String, Seq)>>> {
        Box::pin(SqliteStore::hook_cursors(self))
    }

    fn advance_hook<'a>(
        &'a self,
        name: &'a str,
        to: Seq,
        events: Vec<Event>,
    ) -> BoxFuture<'a, Result<Vec<Seq>>> {
        Box::pin(SqliteStore::advance_hook(self, name, to, events))
    }

    fn forget_hook<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqliteStore::forget_hook(self, name))
    }
}

impl Cursors for SqliteStore {
    fn cursor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Seq>> {
        Box::pin(SqliteStore::cursor(self, name))
    }

    fn set_cursor<'a>(&'a self, name: &'a str, seq: Seq) -> BoxFuture<'a, Result<()>> {
        Box::pin(SqliteStore::set_cursor(self, name, seq))
    }

    fn store_identity(&self) -> BoxFuture<'_, Result<[u8; 16]>> {
        Box::pin(SqliteStore::store_identity(self))
    }
}

impl Backend for SqliteStore {
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(SqliteStore::close(self))
    }
}

impl Releases for SqliteStore {
    fn releases_of_stream<'a>(
        &'a self,
        product: &'a str,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ReleaseRecord>>> {
        Box::pin(self.releases_where(Some((product, stream)), u32::MAX))
    }

    fn recent_releases(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ReleaseRecord>>> {
        Box::pin(self.releases_where(None, limit))
    }

    fn stream_notices<'a>(
        &'a self,
        product: &'a str,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(SqliteStore::stream_notices(self, product, stream))
    }
}
