//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types
//! (utoipa), so it cannot drift from the code.

use utoipa::OpenApi;

use crate::routes::{actions, blobs, events, health, read, schemas};
use crate::{problem, wire};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Factory",
        description = "What the factory knows and does: components, waves, builds, their logs and artifacts, and the event log, live.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        read::components,
        read::component,
        read::component_builds,
        read::waves,
        read::wave,
        read::build,
        read::explain,
        read::artifacts,
        read::log,
        blobs::blob,
        events::list,
        events::stream,
        schemas::index,
        schemas::topic,
        actions::rebuild,
        actions::cancel_wave,
        actions::cancel_build,
    ),
    modifiers(&BearerAuth),
    components(schemas(problem::Problem, wire::Build, wire::Wave, wire::WaveStory,
        wire::Component, wire::ComponentDetail, wire::Artifact, wire::EventOut, wire::EventPage,
        wire::Accepted, wire::Health, schemas::SchemaIndex, schemas::TopicEntry)),
    tags(
        (name = "components", description = "What the factory builds"),
        (name = "waves", description = "Rebuilds of an affected set, and their stories"),
        (name = "builds", description = "One job's build: state, reasons, log, outputs"),
        (name = "artifacts", description = "Blobs by digest"),
        (name = "events", description = "The event log: history and the live stream"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the mutating routes name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document, as served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
