//! The observers of a load run, the marker agent, the query poller and the
//! Prometheus scraper, on a
//! thread and runtime of their own. What they time is the aggregator (and
//! the machine it shares), not the wait behind the load generator's own
//! queue of thousands of simulated agents: an on-call client is not one of
//! those agents' neighbours.
//!
//! Owns that thread and its connections; it must not change what the
//! observers measure.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::LoadError;
use super::marker::{self, MarkerSamples};
use super::model::FleetModel;
use super::query::{self, QuerySamples};
use super::scrape::{self, ScrapeSamples};

/// What the observers report.
#[derive(Debug, Default)]
pub struct Observed {
    pub markers: Option<MarkerSamples>,
    pub queries: Option<QuerySamples>,
    pub scrapes: Option<ScrapeSamples>,
}

/// What to observe: marker samples (count, one every) and queries (one
/// every), each on its own connection to `target`; scrapes (the `/metrics`
/// URL, one every).
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: super::fleet::Target,
    pub markers: Option<(usize, Duration)>,
    pub queries: Option<(FleetModel, Duration)>,
    pub scrapes: Option<(String, Duration)>,
}

/// The running observers.
pub struct Observers {
    thread: std::thread::JoinHandle<Result<Observed, LoadError>>,
}

impl Observers {
    /// Starts the observers; they run until `stop` (markers also end after
    /// their last sample).
    pub fn start(plan: Plan, stop: CancellationToken) -> Result<Self, LoadError> {
        let thread = std::thread::Builder::new()
            .name("loadgen-observe".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| LoadError::Io(format!("observer runtime: {e}")))?;
                runtime.block_on(observe(plan, stop))
            })
            .map_err(|e| LoadError::Io(format!("observer thread: {e}")))?;
        Ok(Observers { thread })
    }

    /// Waits for the observers to end (cancel their `stop` first).
    pub async fn join(self) -> Result<Observed, LoadError> {
        tokio::task::spawn_blocking(move || self.thread.join())
            .await
            .map_err(|e| LoadError::Io(format!("observer thread: {e}")))?
            .map_err(|_| LoadError::Io("observer thread panicked".into()))?
    }
}

async fn observe(plan: Plan, stop: CancellationToken) -> Result<Observed, LoadError> {
    // The marker agent is the hub's.
    let marker_channel = super::fleet::connect(&plan.target, 1, |_| marker::NETWORK.to_string())
        .await?
        .remove(0);
    let query_channel = super::fleet::connect_for_queries(&plan.target).await?;
    let markers = async {
        match plan.markers {
            Some((count, every)) => marker::run(marker_channel, count, every, stop.clone())
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let queries = async {
        match plan.queries {
            Some((model, every)) => {
                Some(query::run(query_channel, model, every, stop.clone()).await)
            }
            None => None,
        }
    };
    let scrapes = async {
        match plan.scrapes {
            Some((url, every)) => {
                let ca = plan.target.tls.as_ref().map(|t| t.ca_pem().to_string());
                Some(scrape::run(url, ca, every, stop.clone()).await)
            }
            None => None,
        }
    };
    let (markers, queries, scrapes) = tokio::join!(markers, queries, scrapes);
    Ok(Observed {
        markers: markers?,
        queries,
        scrapes,
    })
}
