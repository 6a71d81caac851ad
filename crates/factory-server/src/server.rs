//! Binding, the middleware every request passes, and serving until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use factory_engine::{Control, JobGraph};
use factory_store::Store;
use factory_types::{Fault, HasFault};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::problem::{ApiError, problem_response};
use crate::routes::webhooks::WebhookSecrets;
use crate::routes::{
    actions, blobs, datagrepper, events, health, read, releases, schemas, webhooks, why,
};
use crate::state::{AppState, Inner};

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port 0 picks a free port; [`Server::local_addr`] tells which.
    pub listen: SocketAddr,
    /// Reads need a token too (by default they are open, as on localhost they may be).
    pub read_token_required: bool,
    /// Longest a request may take to its response's head (streams go on after it).
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// The forges' webhook secrets; a forge without one is refused.
    pub webhooks: WebhookSecrets,
}

impl ServerConfig {
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            read_token_required: false,
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            webhooks: WebhookSecrets::default(),
        }
    }
}

/// What the server serves.
pub struct Services {
    pub store: Store,
    /// The running loop (`factory up`); None serves reads only.
    pub control: Option<Control>,
    /// The definition, when there is no loop.
    pub graph: Option<Arc<JobGraph>>,
    /// The bus relay running beside the server (`up --amqp`), for `/metrics` and the topics
    /// datagrepper's routes show.
    pub relay: Option<factory_bus::RelayStatus>,
    /// The releaser running beside the loop, if any.
    pub releases: Option<crate::state::ServedReleases>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] factory_store::StoreError),
}

impl HasFault for ServerError {
    fn fault(&self) -> Fault {
        match self {
            // A port in use, or not allowed: the user's choice of address.
            ServerError::Bind { source, .. }
                if source.kind() == std::io::ErrorKind::AddrInUse
                    || source.kind() == std::io::ErrorKind::PermissionDenied
                    || source.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                Fault::Input
            }
            ServerError::Bind { .. } | ServerError::Serve(_) => Fault::Environment,
            ServerError::Store(error) => error.fault(),
        }
    }
}

/// A bound server, not serving yet.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
}

impl Server {
    /// Binds the address and starts following the event log.
    pub async fn bind(config: ServerConfig, services: Services) -> Result<Server, ServerError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let metrics = Arc::new(Metrics::new());
        let kinds = kind_lookup(&services);
        let hub = Hub::start(&services.store, metrics.clone(), kinds).await?;
        let shutdown = CancellationToken::new();
        let state = AppState {
            inner: Arc::new(Inner {
                store: services.store,
                control: services.control,
                graph: services.graph,
                relay: services.relay,
                releases: services.releases,
                metrics,
                hub,
                read_token_required: config.read_token_required,
                webhooks: config.webhooks.clone(),
                shutdown: shutdown.clone(),
            }),
        };
        Ok(Server {
            listener,
            router: router(state, &config),
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `stop` is cancelled, then ends live streams and waits for the
    /// requests in flight.
    pub async fn serve(self, stop: CancellationToken) -> Result<(), ServerError> {
        let shutdown = self.shutdown.clone();
        let signal = async move {
            stop.cancelled().await;
            shutdown.cancel();
        };
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await
            .map_err(ServerError::Serve)
    }
}

/// A component's kind by name, from the definition the server was given (the loop's
/// later definitions name the same kinds for the same components, nearly always).
fn kind_lookup(services: &Services) -> impl Fn(&str) -> String + Send + Sync + 'static {
    let graph = services
        .control
        .as_ref()
        .map(Control::graph)
        .or_else(|| services.graph.clone());
    move |component: &str| {
        graph
            .as_ref()
            .and_then(|g| {
                g.def()
                    .component(component)
                    .map(|c| c.kind_name().to_owned())
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(health::openapi))
        .route("/components", get(read::components))
        .route("/components/{name}", get(read::component))
        .route("/components/{name}/builds", get(read::component_builds))
        .route("/components/{name}/rebuild", post(actions::rebuild))
        .route("/waves", get(read::waves))
        .route("/waves/{id}", get(read::wave))
        .route("/waves/{id}/cancel", post(actions::cancel_wave))
        .route("/builds/{id}", get(read::build))
        .route("/builds/{id}/explain", get(read::explain))
        .route("/builds/{id}/artifacts", get(read::artifacts))
        .route("/builds/{id}/log", get(read::log))
        .route("/builds/{id}/cancel", post(actions::cancel_build))
        .route("/builds/{id}/why", get(why::build_why))
        .route("/waves/{id}/failures", get(why::failures))
        .route("/waves/{id}/jobs/{job}/why", get(why::job_why))
        .route("/waves/{id}/forecast", get(why::forecast))
        .route("/queue", get(why::queue))
        .route("/products", get(releases::products))
        .route("/releases", get(releases::list))
        .route(
            "/products/{product}/streams/{stream}/releases",
            post(releases::release),
        )
        .route(
            "/products/{product}/streams/{stream}/releases/{number}",
            get(releases::one),
        )
        .route("/hooks/github", post(webhooks::github))
        .route("/hooks/gitlab", post(webhooks::gitlab))
        .route("/blobs/{digest}", get(blobs::blob))
        .route("/events", get(events::list))
        .route("/events/stream", get(events::stream))
        .route("/schemas", get(schemas::index))
        .route("/schemas/{topic}", get(schemas::topic))
}

fn router(state: AppState, config: &ServerConfig) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api_routes())
        .nest("/datagrepper", datagrepper::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::reads,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), measure))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        // Outside the layers that answer by themselves (too large, too slow).
        .layer(middleware::map_response(problems_everywhere))
        .merge(crate::dashboard::routes(state.clone())) // pages: HTML errors, not problems
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The span every request's log lines are in: method, path (never the query, which a
/// client may fill with anything) and the request id.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id = id
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route").with_hint("GET /api/v1/openapi.json lists every route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not take that method",
    )
    .with_hint("GET /api/v1/openapi.json lists the methods of every route")
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; this is a bug in Factory");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed while answering; this is a bug in Factory",
    )
    .into_response()
}

/// Records each request's latency by route (the matched pattern, never the raw path: the
/// label set stays small whatever clients send).
pub(crate) async fn measure(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics()
        .observe_request(&method, &route, status, started.elapsed());
    response
}

/// Error responses made by layers (a body too large, a timeout) become problem documents
/// like every other error; the request id is added to every problem.
async fn problems_everywhere(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static("application/problem+json"));
    // datagrepper's routes answer errors as datagrepper does, for its clients.
    if is_problem
        || response
            .extensions()
            .get::<datagrepper::OwnErrors>()
            .is_some()
    {
        return response;
    }
    let (slug, detail, hint) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too-large",
            "the request body is larger than the server accepts",
            "send a smaller body (the limit is 1 MiB by default)",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "the request took longer than the server allows",
            "retry; if it keeps happening, the factory's machine is overloaded",
        ),
        _ => (
            "error",
            status.canonical_reason().unwrap_or("error"),
            "see /api/v1/openapi.json",
        ),
    };
    let mut problem = ApiError::new(status, slug, detail).with_hint(hint);
    if status == StatusCode::UNAUTHORIZED {
        problem = problem.with_hint("send `Authorization: Bearer TOKEN`");
    }
    let mut out = problem_response(problem.into_problem(None));
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
