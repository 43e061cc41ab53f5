//! A tonic-health server whose service status the test flips between
//! SERVING and NOT_SERVING.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub const SERVICE: &str = "shop.v1.Checkout";

pub struct HealthLab {
    pub addr: SocketAddr,
    pub reporter: HealthReporter,
    stop: CancellationToken,
}

impl HealthLab {
    pub async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status(SERVICE, status).await;
    }
}

impl Drop for HealthLab {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start() -> HealthLab {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.cancelled_owned(),
            )
            .await;
    });
    HealthLab {
        addr,
        reporter,
        stop,
    }
}
