//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types
//! (utoipa), so it cannot drift from the code.

use utoipa::OpenApi;

use crate::routes::{actions, blobs, events, health, read, releases, schemas, webhooks, why};
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
        why::build_why,
        why::failures,
        why::job_why,
        why::forecast,
        why::queue,
        webhooks::github,
        webhooks::gitlab,
        releases::products,
        releases::list,
        releases::one,
        releases::release,
    ),
    modifiers(&BearerAuth, &BadRequests),
    components(schemas(problem::Problem, wire::Build, wire::Wave, wire::WaveStory,
        wire::Component, wire::ComponentDetail, wire::Artifact, wire::EventOut, wire::EventPage,
        wire::Accepted, wire::Health, wire::SseMessage, schemas::SchemaIndex,
        schemas::TopicEntry, wire::Release, wire::ProductOut, wire::ProductStreamOut,
        wire::ChannelOut, wire::ReleaseRequest)),
    tags(
        (name = "components", description = "What the factory builds"),
        (name = "waves", description = "Rebuilds of an affected set, and their stories"),
        (name = "builds", description = "One job's build: state, reasons, log, outputs"),
        (name = "artifacts", description = "Blobs by digest"),
        (name = "events", description = "The event log: history and the live stream"),
        (name = "releases", description = "Product streams, their channels and releases"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "hooks", description = "Pushes from forges"),
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

/// Every operation that takes parameters or a body can answer 400 with a problem (a
/// malformed id, an unknown query parameter): said once here rather than on each route.
struct BadRequests;

impl utoipa::Modify for BadRequests {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = ResponseBuilder::new()
            .description("The request is malformed: the problem says how")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let takes_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || operation.request_body.is_some();
                if takes_input {
                    let responses = &mut operation.responses.responses;
                    responses
                        .entry("400".into())
                        .or_insert_with(|| problem.clone().into());
                }
            }
        }
    }
}

/// The document, as served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
