//! Helpers the engine's integration tests share.
// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use factory_store::{Event, Seq, Store};

/// Every event of the store's log, in order.
pub(crate) async fn events(store: &Store) -> Vec<Event> {
    let recorded = store.db().events_since(Seq(0), 100_000).await.unwrap();
    recorded.into_iter().map(|e| e.event).collect()
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 for the files of a directory; counts the
/// requests it answers.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) requests: Arc<AtomicUsize>,
}

impl Server {
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Serves the files of `root`, answering the first `failures` requests with 503 (a server
/// that is down for a moment) and a missing file with 404.
pub(crate) fn serve(root: PathBuf, failures: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(path) = request_path(&mut stream) else {
                continue;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let response = if n < failures {
                head("503 Service Unavailable", 0)
            } else {
                match fs_err::read(root.join(path.trim_start_matches('/'))) {
                    Ok(body) => [head("200 OK", body.len()), body].concat(),
                    Err(_) => head("404 Not Found", 0),
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    Server { url, requests }
}

/// The path of the request read from `stream`, its headers skipped.
fn request_path(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    Some(
        request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned(),
    )
}

fn head(status: &str, length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}
