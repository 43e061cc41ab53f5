//! gRPC probe: the standard grpc.health.v1 Check of one service over a fresh
//! plain-text (h2c) connection. NOT_SERVING and SERVICE_UNKNOWN are
//! `grpc_not_serving`; other statuses `grpc_error`; transport failures are
//! classified like any connect. It must not call the workload's own RPCs.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use vigil_proto::v1::{ErrorClass, GrpcDetail, signal_detail::Detail};

use super::{Observation, Probe, ProbeFuture, classify, connect};
use crate::config::GrpcSpec;

pub struct GrpcProbe {
    spec: GrpcSpec,
    endpoint: Endpoint,
    timeout: Duration,
}

impl GrpcProbe {
    pub fn new(spec: GrpcSpec, timeout: Duration) -> Result<Self, String> {
        let uri = format!("http://{}", spec.target);
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| format!("\"{uri}\" is not a usable gRPC endpoint: {e}"))?;
        Ok(Self {
            spec,
            endpoint,
            timeout,
        })
    }

    fn service(&self) -> &str {
        if self.spec.service.is_empty() {
            "the server"
        } else {
            &self.spec.service
        }
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let target = &self.spec.target;
        let channel = match tokio::time::timeout_at(deadline, self.endpoint.connect()).await {
            Err(_) => {
                return Observation::failure(
                    ErrorClass::Timeout,
                    start.elapsed(),
                    format!("connect to {target}: no answer in time"),
                );
            }
            Ok(Err(e)) => {
                let here = connect::refused_here(&e, &target.host, target.port, deadline).await;
                return Observation::failure(
                    classify::chain(&e, here).unwrap_or(ErrorClass::GrpcError),
                    start.elapsed(),
                    format!("connect to {target}: {}", classify::describe(&e)),
                );
            }
            Ok(Ok(channel)) => channel,
        };
        let mut client = HealthClient::new(channel);
        let request = HealthCheckRequest {
            service: self.spec.service.clone(),
        };
        let result = tokio::time::timeout_at(deadline, client.check(request)).await;
        let latency = start.elapsed();
        match result {
            Err(_) => Observation::failure(
                ErrorClass::Timeout,
                latency,
                format!(
                    "health check of {} at {target}: no answer in time",
                    self.service()
                ),
            ),
            Ok(Ok(response)) => self.judge(response.into_inner().status, latency),
            Ok(Err(status)) if status.code() == Code::NotFound => Observation::failure(
                ErrorClass::GrpcNotServing,
                latency,
                format!(
                    "{target} does not know {} (SERVICE_UNKNOWN)",
                    self.service()
                ),
            )
            .with_detail(serving_detail("SERVICE_UNKNOWN")),
            Ok(Err(status)) => {
                let class = match status.code() {
                    Code::DeadlineExceeded => ErrorClass::Timeout,
                    Code::Unavailable => {
                        let here =
                            connect::refused_here(&status, &target.host, target.port, deadline)
                                .await;
                        classify::chain(&status, here).unwrap_or(ErrorClass::GrpcError)
                    }
                    _ => ErrorClass::GrpcError,
                };
                Observation::failure(
                    class,
                    latency,
                    format!(
                        "health check of {} at {target}: {:?}: {}",
                        self.service(),
                        status.code(),
                        status.message()
                    ),
                )
            }
        }
    }

    fn judge(&self, status: i32, latency: Duration) -> Observation {
        let target = &self.spec.target;
        match ServingStatus::try_from(status) {
            Ok(ServingStatus::Serving) => {
                Observation::success(latency).with_detail(serving_detail("SERVING"))
            }
            Ok(s @ (ServingStatus::NotServing | ServingStatus::ServiceUnknown)) => {
                let name = s.as_str_name();
                Observation::failure(
                    ErrorClass::GrpcNotServing,
                    latency,
                    format!("{} at {target} is {name}", self.service()),
                )
                .with_detail(serving_detail(name))
            }
            Ok(ServingStatus::Unknown) | Err(_) => Observation::failure(
                ErrorClass::GrpcError,
                latency,
                format!(
                    "{} at {target} answered serving status {status}",
                    self.service()
                ),
            )
            .with_detail(serving_detail("UNKNOWN")),
        }
    }
}

impl Probe for GrpcProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}

fn serving_detail(status: &str) -> Detail {
    Detail::Grpc(GrpcDetail {
        serving_status: status.to_owned(),
    })
}
