//! Raw TCP servers with the behaviours a firewall or a broken destination
//! shows: accept, reset on accept, never answer (full backlog), reset right
//! after the TLS ClientHello, and a listener that goes away after a few
//! connections (partial loss). A port where nothing listens (refusal) is
//! `vigil_testkit::net::closed_port`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Accepts and holds every connection open.
pub async fn accepting() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    addr
}

/// Closes with SO_LINGER 0, which sends a RST instead of a FIN.
fn reset(conn: TcpStream) {
    let _ = SockRef::from(&conn).set_linger(Some(Duration::ZERO));
    drop(conn);
}

/// Resets every connection as soon as it is accepted.
pub async fn resetting() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            reset(conn);
        }
    });
    addr
}

/// Reads the client's first flight (a TLS ClientHello) and then resets, the
/// way a firewall denies an SNI. Counts the hellos it saw.
pub async fn reset_after_hello() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hellos = Arc::new(AtomicUsize::new(0));
    let seen = hellos.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // 0x16 is the TLS handshake record type.
                if let Ok(n) = conn.read(&mut buf).await
                    && n > 0
                    && buf[0] == 0x16
                {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                reset(conn);
            });
        }
    });
    (addr, hellos)
}

/// A listener whose accept queue is full: further SYNs are dropped, so
/// connects hang, like a silent drop. Keep it alive while testing.
pub struct Blackhole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _filled: Vec<TcpStream>,
}

pub async fn blackhole() -> Blackhole {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut filled = Vec::new();
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(conn)) => filled.push(conn),
            Ok(Err(e)) => panic!("unexpected connect error while filling the backlog: {e}"),
            Err(_) => {
                return Blackhole {
                    addr,
                    _listener: listener,
                    _filled: filled,
                };
            }
        }
    }
    panic!("backlog never filled after {} connections", filled.len());
}

/// Accepts `keep` connections, then closes the listener so later connects
/// are refused: some of a burst get through, the rest are lost.
pub async fn going_away(keep: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while held.len() < keep {
            match listener.accept().await {
                Ok((conn, _)) => {
                    held.push(conn);
                    count.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => return,
            }
        }
        drop(listener);
        // Hold the accepted connections until the test ends.
        std::future::pending::<()>().await;
    });
    (addr, accepted)
}
