//! The request flow gRPC and HTTP share: charge the memory budget, decode, reject
//! invalid items (partial success), hand off to the pipelines and wait for their
//! acknowledgement.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

/// Requests answered with a client error, by reason. Each reason is one series of
/// `sentinel_receiver_bad_requests_total{component_id, reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    MalformedProtobuf,
    MalformedJson,
    BodyTooLarge,
    CorruptCompression,
    UnsupportedContentType,
    UnsupportedContentEncoding,
    MethodNotAllowed,
    NotFound,
    BodyReadFailed,
}

impl BadRequest {
    const ALL: [BadRequest; 9] = [
        BadRequest::MalformedProtobuf,
        BadRequest::MalformedJson,
        BadRequest::BodyTooLarge,
        BadRequest::CorruptCompression,
        BadRequest::UnsupportedContentType,
        BadRequest::UnsupportedContentEncoding,
        BadRequest::MethodNotAllowed,
        BadRequest::NotFound,
        BadRequest::BodyReadFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BadRequest::MalformedProtobuf => "malformed_protobuf",
            BadRequest::MalformedJson => "malformed_json",
            BadRequest::BodyTooLarge => "body_too_large",
            BadRequest::CorruptCompression => "corrupt_compression",
            BadRequest::UnsupportedContentType => "unsupported_content_type",
            BadRequest::UnsupportedContentEncoding => "unsupported_content_encoding",
            BadRequest::MethodNotAllowed => "method_not_allowed",
            BadRequest::NotFound => "not_found",
            BadRequest::BodyReadFailed => "body_read_failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BadRequestLabels {
    component_id: String,
    reason: &'static str,
}

type BadRequestFamily = Family<BadRequestLabels, Counter>;

fn bad_request_family(metrics: &Arc<SelfMetrics>) -> BadRequestFamily {
    metrics.family(
        "receiver_bad_requests",
        "Requests a receiver answered with a client error (malformed, too large, unsupported), by reason",
        BadRequestFamily::default,
    )
}

/// The bad-request counters of one receiver, created up front so the hot path never
/// allocates label sets.
#[derive(Clone)]
pub struct BadRequests {
    counters: [Counter; BadRequest::ALL.len()],
}

impl BadRequests {
    pub fn new(metrics: &Arc<SelfMetrics>, component_id: &str) -> BadRequests {
        let family = bad_request_family(metrics);
        let counters = BadRequest::ALL.map(|reason| {
            family
                .get_or_create(&BadRequestLabels {
                    component_id: component_id.to_string(),
                    reason: reason.as_str(),
                })
                .clone()
        });
        BadRequests { counters }
    }

    pub fn count(&self, reason: BadRequest) {
        // `ALL` lists the variants in declaration order, so the discriminant indexes it.
        self.counters[reason as usize].inc();
    }
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
        self.bad_requests.count(reason);
        tracing::debug!(component = %self.id, reason = reason.as_str(), %detail, "Bad request.");
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
        let mut payload = decoded.map_err(|message| {
            let reason = match format {
                Format::Protobuf => BadRequest::MalformedProtobuf,
                Format::Json => BadRequest::MalformedJson,
            };
            self.bad_request(reason, &message);
            Failure::Malformed(message)
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
