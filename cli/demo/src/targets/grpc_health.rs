//! A gRPC service that speaks the standard health protocol
//! (`grpc.health.v1.Health`), for the agent's gRPC probe, with a switch that
//! flips the server's overall status.
//!
//! Owns only this server and its status. It must not fake transport failures:
//! NOT_SERVING is an answer from a live server, which is what it simulates.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A tonic server with only the health service. The overall status (service
/// name `""`) starts SERVING.
pub struct GrpcHealthTarget {
    addr: SocketAddr,
    reporter: HealthReporter,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl GrpcHealthTarget {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    // Also ends when the owner is dropped without stopping.
                    let _ = stopped.await;
                }),
        );
        tracing::debug!(%addr, "gRPC health target serving");
        Ok(Self {
            addr,
            reporter,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Flips the overall status between SERVING and NOT_SERVING; watchers of
    /// the health service are notified.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(addr = %self.addr, error = %e, "gRPC health target stopped with an error")
            }
            Err(e) => {
                tracing::warn!(addr = %self.addr, error = %e, "gRPC health target ended abnormally")
            }
        }
    }
}
