//! The JSON Schemas of the bus messages, one per topic, generated from their wire types
//! ([`factory_bus::schema`]); `docs/events.md` is rendered from the same table.

use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::{Json, Path};
use crate::problem::{ApiError, ApiResult, Problem};

/// One topic of the bus.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicEntry {
    /// Without the bus prefix: `build.succeeded`.
    pub topic: String,
    pub meaning: String,
    /// fedora-messaging's level: 10 debug, 20 info, 30 warning, 40 error.
    pub severity: i32,
    /// Where its schema is.
    pub schema: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaIndex {
    pub topics: Vec<TopicEntry>,
}

/// Every topic a bus message (and an event of `/api/v1/events`) can have.
#[utoipa::path(get, path = "/api/v1/schemas", tag = "events",
    responses((status = 200, body = SchemaIndex)))]
pub async fn index() -> Json<SchemaIndex> {
    let topics = factory_bus::schema::TOPICS
        .iter()
        .map(|t| TopicEntry {
            topic: t.name.to_owned(),
            meaning: t.meaning.to_owned(),
            severity: t.severity.level(),
            schema: format!("/api/v1/schemas/{}", t.name),
        })
        .collect();
    Json(SchemaIndex { topics })
}

/// The JSON Schema (2020-12) of a message body of one topic.
#[utoipa::path(get, path = "/api/v1/schemas/{topic}", tag = "events",
    params(("topic" = String, Path, description = "`build.succeeded`, `wave.planned`, ...")),
    responses((status = 200, body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn topic(Path(topic): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    match factory_bus::schema::topic(&topic) {
        Some(found) => Ok(Json(found.schema())),
        None => Err(ApiError::not_found(format!("no topic `{topic}`"))
            .with_hint("GET /api/v1/schemas lists the topics")),
    }
}
