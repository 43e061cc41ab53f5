//! The HTTP API's connection limits over real sockets: a client that sends
//! its headers too slowly (slow loris), one that sends nothing, and one that
//! keeps an idle keep-alive connection are each closed after
//! `http.header_timeout`, while other clients are answered meanwhile; the
//! field is validated like every other.

mod feed;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use feed::{DEADLINE, model};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use vigil_testkit::config::{Evaluation, OPEN, aggregator_yaml_with};

const HEADER_TIMEOUT: Duration = Duration::from_millis(400);

async fn start() -> AggregatorHandle {
    let yaml = aggregator_yaml_with(
        &Evaluation::FAST,
        &format!(
            "{OPEN}http:\n  header_timeout: {}ms\n",
            HEADER_TIMEOUT.as_millis()
        ),
    );
    let config = AggregatorConfig::from_yaml(&yaml, "http-limits.yaml").unwrap();
    Aggregator::start(config, model()).await.unwrap()
}

/// Reads until the server closes `stream` (EOF or reset), within
/// [`DEADLINE`]: how long that took from `since`, and what was read.
async fn until_closed(stream: &mut TcpStream, since: Instant) -> (Duration, String) {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    (since.elapsed(), String::from_utf8_lossy(&read).into_owned())
}

async fn tree_status(addr: SocketAddr) -> u16 {
    reqwest::get(format!("http://{addr}/api/v1/tree"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_is_cut_off_while_others_are_answered() {
    let agg = start().await;
    let addr = agg.http_addr();
    let mut loris = TcpStream::connect(addr).await.unwrap();
    let since = Instant::now();
    let request = b"GET /api/v1/tree HTTP/1.1\r\nHost: vigil\r\nX-Slow: ";
    // A byte every 50 ms: it never finishes its headers, and it is never
    // silent for long.
    let dripping = tokio::spawn(async move {
        for byte in request.iter().chain(std::iter::repeat(&b'a')) {
            if loris.write_all(&[*byte]).await.is_err() {
                return loris;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if since.elapsed() > DEADLINE {
                return loris;
            }
        }
        loris
    });
    // Others are served while it drips.
    assert_eq!(tree_status(addr).await, 200);
    let mut loris = dripping.await.unwrap();
    let (took, answer) = until_closed(&mut loris, since).await;
    assert!(
        took >= HEADER_TIMEOUT,
        "closed after {took:?}, before the deadline"
    );
    assert!(
        took < DEADLINE,
        "closed after {took:?}: the writes stopped, not the deadline"
    );
    assert!(
        !answer.contains("200 OK"),
        "the incomplete request was answered: {answer}"
    );
    assert_eq!(tree_status(addr).await, 200);
    agg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let agg = start().await;
    let addr = agg.http_addr();

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (took, read) = until_closed(&mut silent, Instant::now()).await;
    assert!(took >= HEADER_TIMEOUT, "{took:?}");
    assert!(read.is_empty() || read.contains("408"), "{read}");

    // One whole request, answered; then nothing on the kept-alive socket.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
        .await
        .unwrap();
    let since = Instant::now();
    let (took, read) = until_closed(&mut idle, since).await;
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    assert!(took >= HEADER_TIMEOUT, "{took:?}");
    agg.shutdown().await;
}

#[test]
fn a_header_timeout_out_of_range_names_the_field() {
    for value in ["0s", "1h"] {
        let yaml = aggregator_yaml_with(
            &Evaluation::FAST,
            &format!("{OPEN}http:\n  header_timeout: {value}\n"),
        );
        let err = AggregatorConfig::from_yaml(&yaml, "http-limits.yaml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("http-limits.yaml") && text.contains("http.header_timeout"),
            "{text}"
        );
    }
}
