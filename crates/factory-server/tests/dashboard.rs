//! The dashboard's pages over stores written event by event: names, reasons and log lines
//! that are markup reach the page as text, never as markup; unknown ids get error pages;
//! and a wave of 10,000 builds is shown a page of rows at a time, quickly.
//!
//! The definition format refuses such names, but the store does not (importers, the
//! API's future writers), so the pages are tested on what the store can hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use factory_server::{Server, ServerConfig, Services};
use factory_store::{BuildId, Event, FailureKind, LogStream, Store, StoreOptions, WaveId};
use factory_types::ManualClock;
use tokio_util::sync::CancellationToken;

const NAME: &str = "<script>alert('name')</script>";
const VICTIM: &str = "<img src=x onerror=alert('victim')>";

/// What fills a store before it is served.
type Fill = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A store on a clock that moves 1 s per call of `tick`, served on a port of its own in a
/// thread of its own until the token is cancelled.
struct Served {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(fill: impl FnOnce(Store, Arc<ManualClock>) -> Fill + Send + 'static) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let clock = Arc::new(ManualClock::at(
                    std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                ));
                let options = StoreOptions {
                    clock: clock.clone(),
                };
                let store = Store::open_with(&path, options).await.unwrap();
                fill(store.clone(), clock).await;
                let services = Services {
                    store,
                    control: None,
                    graph: None,
                    relay: None,
                    releases: None,
                };
                let config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
                let server = Server::bind(config, services).await.unwrap();
                tx.send(server.local_addr()).unwrap();
                server.serve(token).await.unwrap();
            });
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("the server started");
        Served {
            addr,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> (u16, String, ureq::http::HeaderMap, String) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let mut response = agent
            .get(format!("http://{}{path}", self.addr))
            .call()
            .expect("the server answers");
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), content_type, headers, body)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn append(store: &Store, event: Event) -> u64 {
    store.db().append_one(event).await.unwrap().0
}

/// A wave in which the hostile component fails (its log and reason are markup too) and
/// blocks the victim. Returns (wave, failed build, blocked build).
async fn hostile_wave(store: &Store, clock: &ManualClock) -> (u64, u64, u64) {
    let db = store.db();
    let change = Event::ChangeDetected {
        component: NAME.into(),
        reason: "<img src=x onerror=alert('change')>".into(),
        revision: None,
    };
    let planned = Event::WavePlanned {
        trigger: "<script>alert('trigger')</script>".into(),
        affected: vec![NAME.into(), VICTIM.into()],
        plan: vec![vec![NAME.into()], vec![VICTIM.into()]],
    };
    let wave = db.append(vec![change, planned]).await.unwrap()[1].0;
    let queued =
        |component: &str, reason: &str, inputs: BTreeMap<String, String>| Event::BuildQueued {
            wave: Some(WaveId(wave)),
            component: component.into(),
            key: None,
            reason: reason.into(),
            inputs,
        };
    let inputs = BTreeMap::from([("<b>input</b>".to_owned(), "<i>value</i>".to_owned())]);
    let failed = append(
        store,
        queued(NAME, "<script>alert('reason')</script>", inputs),
    )
    .await;
    let build = BuildId(failed);
    append(store, Event::BuildStarted { build, attempt: 1 }).await;
    clock.advance(Duration::from_secs(2));
    let chunk = "<script>alert('log')</script>\n".to_owned();
    let stream = LogStream::Stdout;
    let reason = "</pre><script>alert('detail')</script>".to_owned();
    let kind = FailureKind::User;
    let ends = vec![
        Event::BuildLog {
            build,
            stream,
            chunk,
        },
        Event::BuildFailed {
            build,
            reason,
            kind,
        },
    ];
    db.append(ends).await.unwrap();
    let blocked = append(
        store,
        queued(VICTIM, "input did not build", BTreeMap::new()),
    )
    .await;
    let reason = "<svg onload=alert('blocked')>".to_owned();
    let summary = "<script>alert('summary')</script>".to_owned();
    let ends = vec![
        Event::BuildBlocked {
            build: BuildId(blocked),
            by: vec![build],
            reason,
        },
        Event::WaveFinished {
            wave: WaveId(wave),
            summary,
        },
    ];
    db.append(ends).await.unwrap();
    (wave, failed, blocked)
}

/// Only our own script tag, and no markup from the store, on a page.
fn assert_escaped(path: &str, body: &str) {
    assert_eq!(
        body.matches("<script").count(),
        1,
        "{path}: one script element, the dashboard's own:\n{body}"
    );
    for bad in [
        "<img",
        "<svg onload",
        "<b>input",
        "<i>value",
        "</pre><script",
    ] {
        assert!(!body.contains(bad), "{path}: {bad} unescaped:\n{body}");
    }
}

/// Unknown ids and malformed paths get error pages, escaped like the others.
fn error_pages(served: &Served, wave: u64) {
    let errors = [
        ("/builds/999999", 404),
        ("/waves/999999", 404),
        ("/waves/abc", 400),
        ("/builds/b-1", 400),
        (&format!("/waves/{wave}?state=purple") as &str, 400),
        (&format!("/waves/{wave}?colour=blue"), 400),
        (&format!("/graph/{}", percent(NAME)), 404),
        ("/components/nothing-here", 404),
        ("/assets/nothing.js", 404),
    ];
    for (path, expected) in errors {
        let (status, content_type, _, body) = served.get(path);
        assert_eq!(status, expected, "{path}: {body}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: an error page, {content_type}"
        );
        assert!(
            body.contains(&format!("<h1 id=\"problem-title\">{expected}")),
            "{path}:\n{body}"
        );
        assert_escaped(path, &body);
    }
}

#[test]
fn markup_from_the_store_is_text_on_every_page_and_unknown_ids_get_error_pages() {
    let (tx, rx) = std::sync::mpsc::channel();
    let served = Served::start(move |store, clock| {
        Box::pin(async move {
            tx.send(hostile_wave(&store, &clock).await).unwrap();
        })
    });
    let (wave, failed, blocked) = rx.recv().unwrap();
    let pages = [
        "/".to_owned(),
        "/waves".into(),
        format!("/waves/{wave}"),
        format!("/waves/{wave}?state=blocked"),
        format!("/builds/{failed}"),
        format!("/builds/{blocked}"),
        "/components".into(),
        format!("/components/{}", percent(NAME)),
        format!("/components/{}", percent(VICTIM)),
    ];
    for path in &pages {
        let (status, content_type, headers, body) = served.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        assert_escaped(path, &body);
        assert!(
            body.contains("&lt;script&gt;alert(") || body.contains("&lt;img src=x"),
            "{path}: the text is shown:\n{body}"
        );
    }
    let (_, _, _, overview) = served.get("/");
    assert!(
        overview.contains("1 build blocked"),
        "the root cause group:\n{overview}"
    );
    let (_, _, _, log) = served.get(&format!("/builds/{failed}"));
    assert!(
        log.contains("&lt;script&gt;alert('log')&lt;/script&gt;"),
        "{log}"
    );
    let (_, _, _, why) = served.get(&format!("/builds/{blocked}"));
    assert!(
        why.contains("Root cause"),
        "the blocked build names its root:\n{why}"
    );
    assert!(why.contains(&format!("href=\"/builds/{failed}\"")), "{why}");

    error_pages(&served, wave);
    let (status, content_type, _, _) = served.get("/api/v1/builds/999999");
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/problem+json"),
        "the API is unchanged"
    );
    let (status, content_type, headers, script) = served.get("/assets/dashboard.js");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(script.contains("EventSource"));
}

/// Builds in a wave of the scale test.
const BUILDS: usize = 10_000;

async fn big_wave(store: Store, clock: Arc<ManualClock>) -> u64 {
    let names: Vec<String> = (0..BUILDS).map(|i| format!("pkg-{i:05}")).collect();
    let plan = names.chunks(1000).map(<[String]>::to_vec).collect();
    let wave = append(
        &store,
        Event::WavePlanned {
            trigger: "source changed: glibc".into(),
            affected: names.clone(),
            plan,
        },
    )
    .await;
    for chunk in names.chunks(500) {
        let queued: Vec<Event> = chunk
            .iter()
            .map(|name| Event::BuildQueued {
                wave: Some(WaveId(wave)),
                component: name.clone(),
                key: None,
                reason: "input glibc changed".into(),
                inputs: BTreeMap::new(),
            })
            .collect();
        let seqs = store.db().append(queued).await.unwrap();
        clock.advance(Duration::from_millis(300));
        let ends: Vec<Event> = seqs
            .iter()
            .enumerate()
            .flat_map(|(i, seq)| {
                let build = BuildId(seq.0);
                let end = if i % 50 == 7 {
                    Event::BuildFailed {
                        build,
                        reason: "exit status 2".into(),
                        kind: FailureKind::User,
                    }
                } else {
                    Event::BuildSucceeded {
                        build,
                        outputs: Vec::new(),
                    }
                };
                [Event::BuildStarted { build, attempt: 1 }, end]
            })
            .collect();
        store.db().append(ends).await.unwrap();
    }
    wave
}

#[test]
fn a_wave_of_ten_thousand_builds_is_paged_and_quick() {
    let (tx, rx) = std::sync::mpsc::channel();
    let served = Served::start(move |store, clock| {
        Box::pin(async move {
            tx.send(big_wave(store, clock).await).unwrap();
        })
    });
    let wave = rx.recv().unwrap();
    let mut timings = Vec::new();
    for path in [
        format!("/waves/{wave}"),
        format!("/waves/{wave}?page=100"),
        format!("/waves/{wave}?state=failed"),
        format!("/waves/{wave}?q=pkg-0999"),
        "/".to_owned(),
    ] {
        // The first answer warms the database's cache; the second is what a refresh costs.
        served.get(&path);
        let started = Instant::now();
        let (status, _, _, body) = served.get(&path);
        let took = started.elapsed();
        assert_eq!(status, 200, "{path}");
        let rows = body.matches("<tr id=\"build-").count();
        assert!(rows <= 100, "{path}: {rows} rows");
        timings.push((path, took, rows, body.len()));
    }
    for (path, took, rows, bytes) in &timings {
        println!("{path}: {took:?}, {rows} rows, {bytes} bytes");
    }
    assert_eq!(timings[0].2, 100, "the first page is full");
    assert_eq!(timings[2].2, 100, "200 failures, 100 a page");
    assert!(
        timings[3].2 == 10,
        "pkg-09990 to pkg-09999: {}",
        timings[3].2
    );
    // Generous for a debug build on a shared machine; the figures printed are the measure.
    for (path, took, ..) in &timings {
        assert!(*took < Duration::from_secs(5), "{path} took {took:?}");
    }
}
