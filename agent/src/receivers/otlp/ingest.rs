//! The request flow gRPC and HTTP share: charge the memory budget, decode, reject
//! invalid items (partial success), hand off to the pipelines and wait for their
//! acknowledgement.

use std::sync::Arc;

use sentinel_pipeline::http::{BadRequest, BadRequests};
use sentinel_pipeline::{
    ack_pair, Acks, ComponentMetrics, Message, Output, Outputs, Refusal, SelfMetrics, Signal,
};

use super::decode::{self, Format, Rejected};

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The payload cannot be decoded: HTTP 400, gRPC INVALID_ARGUMENT. Not retryable.
    Malformed(String),
    /// A budget, channel or queue is full, or the agent is stopping: HTTP 429/503,
    /// gRPC RESOURCE_EXHAUSTED/UNAVAILABLE. The client retries.
    Refused(Refusal),
}

/// What the client is told on success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Items left out of the request (partial success).
    pub rejected: Option<Rejected>,
}

struct Route {
    output: Output,
    metrics: ComponentMetrics,
}

/// Everything a request handler needs, shared by the gRPC and HTTP servers.
pub struct Ingest {
    id: String,
    /// Indexed like [`Signal::ALL`]; `None` for signals no pipeline takes from us.
    routes: [Option<Route>; 3],
    bad_requests: BadRequests,
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Ingest {
    /// `metrics_for` gives the receiver's self-metrics of one signal.
    pub fn new(
        id: &str,
        outputs: Outputs,
        metrics: &Arc<SelfMetrics>,
        metrics_for: impl Fn(Signal) -> ComponentMetrics,
    ) -> Ingest {
        let mut routes: [Option<Route>; 3] = [None, None, None];
        for (signal, output) in outputs {
            routes[index(signal)] = Some(Route {
                output,
                metrics: metrics_for(signal),
            });
        }
        Ingest {
            id: id.to_string(),
            routes,
            bad_requests: BadRequests::new(metrics, id),
        }
    }

    /// True when some pipeline takes `signal` from this receiver.
    pub fn accepts(&self, signal: Signal) -> bool {
        self.routes[index(signal)].is_some()
    }

    pub fn bad_request(&self, reason: BadRequest, detail: &dyn std::fmt::Display) {
        self.bad_requests.record(reason, detail);
    }

    /// Runs one export request. `body` is the uncompressed protobuf or JSON; it is
    /// dropped once decoded, while the memory budget stays charged until the pipelines
    /// have acknowledged the data.
    pub async fn ingest(
        &self,
        signal: Signal,
        format: Format,
        body: impl AsRef<[u8]>,
    ) -> Result<Accepted, Failure> {
        let Some(route) = &self.routes[index(signal)] else {
            return Err(Failure::Refused(Refusal::unavailable(format!(
                "no pipeline takes {signal} from {}",
                self.id
            ))));
        };
        let admission = route
            .output
            .admit(body.as_ref().len())
            .map_err(|refusal| self.refused(signal, 0, refusal))?;

        let decoded = decode::decode(signal, format, body.as_ref());
        drop(body);
        let mut payload = decoded.map_err(|err| {
            let reason = match format {
                Format::Protobuf => BadRequest::MalformedProtobuf,
                Format::Json => BadRequest::MalformedJson,
            };
            self.bad_request(reason, &err);
            Failure::Malformed(err.to_string())
        })?;

        let received = payload.item_count();
        route.metrics.received(received);
        let rejected = decode::reject_invalid(&mut payload);
        let rejected_items = rejected.as_ref().map_or(0, |r| r.items);
        if rejected_items > 0 {
            route
                .metrics
                .dropped(rejected_items, "invalid ids, rejected as partial success");
        }
        let items = received - rejected_items;
        if items == 0 {
            // Nothing for the pipelines: an empty request is a success.
            return Ok(Accepted { rejected });
        }

        let (token, waiter) = ack_pair();
        let mut acks = Acks::one(token);
        // The data carries the charge until the exporter queues take it.
        acks.hold(admission);
        if let Err(refusal) = route.output.send(Message::new(payload, acks)) {
            return Err(self.refused(signal, items, refusal));
        }
        match waiter.wait().await {
            Ok(()) => {
                route.metrics.sent(items);
                Ok(Accepted { rejected })
            }
            Err(refusal) => Err(self.refused(signal, items, refusal)),
        }
    }

    fn refused(&self, signal: Signal, items: usize, refusal: Refusal) -> Failure {
        if let Some(route) = &self.routes[index(signal)] {
            route.metrics.refused(items);
        }
        tracing::debug!(component = %self.id, %signal, items, %refusal, "Request refused.");
        Failure::Refused(refusal)
    }
}
