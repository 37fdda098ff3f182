//! The request flow gRPC and HTTP share: probe the path's capacity, check the limits
//! and estimate the decoded size (`prescan`), charge the memory budget, decode, reject
//! invalid items (partial success), hand off to the pipelines and wait for their
//! acknowledgement.
//!
//! When every pipeline on the path keeps requests encoded up to its exporter queues (no
//! processor, exporters that send protobuf: `Output::takes_encoded`) and the prescan found
//! the bytes decode with every item valid, the body is handed on as it was received:
//! nothing is decoded, and only the body is charged.

use std::sync::Arc;

use bytes::Bytes;
use sentinel_pipeline::admission::Admission;
use sentinel_pipeline::http::{BadRequest, BadRequests};
use sentinel_pipeline::{
    ack_pair, Acks, ComponentMetrics, Encoded, EncodedMessage, Message, Output, Outputs, Refusal,
    SelfMetrics, Signal,
};

use super::decode::{self, Format, Rejected};
use super::prescan::{self, Limits, Shape, Violation};

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The payload cannot be decoded: HTTP 400, gRPC INVALID_ARGUMENT. Not retryable.
    Malformed(String),
    /// Over a per-request limit, or its decoded form would not fit the memory budget
    /// even when empty: HTTP 413 (`too_large`) or 400, gRPC INVALID_ARGUMENT. Not
    /// retryable.
    OverLimit { message: String, too_large: bool },
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
    limits: Limits,
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
        limits: Limits,
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
            limits,
        }
    }

    /// Before reading a request's body: refuses at once when the pipelines, the exporter
    /// queues behind them or the memory budgets have no room for about `bytes`; else an
    /// admission charging nothing yet, which the body is charged to as it arrives.
    pub fn admit_body(&self, signal: Signal, bytes: usize) -> Result<Admission, Failure> {
        let route = self.route(signal)?;
        route
            .output
            .has_room(bytes)
            .and_then(|()| route.output.admit(0))
            .map_err(|refusal| self.refused(signal, 0, refusal))
    }

    fn route(&self, signal: Signal) -> Result<&Route, Failure> {
        self.routes[index(signal)].as_ref().ok_or_else(|| {
            Failure::Refused(Refusal::unavailable(format!(
                "no pipeline takes {signal} from {}",
                self.id
            )))
        })
    }

    /// True when some pipeline takes `signal` from this receiver.
    pub fn accepts(&self, signal: Signal) -> bool {
        self.routes[index(signal)].is_some()
    }

    pub fn bad_request(&self, reason: BadRequest, detail: &dyn std::fmt::Display) {
        self.bad_requests.record(reason, detail);
    }

    /// Runs one export request. `body` is the uncompressed protobuf or JSON, `charged`
    /// what its reading was charged ([`Ingest::admit_body`]). Nothing is decoded unless
    /// the path has room, the request is within the limits and the budget takes its
    /// decoded size; the body is dropped once decoded, while the budget stays charged
    /// until the pipelines have acknowledged the data.
    pub async fn ingest(
        &self,
        signal: Signal,
        format: Format,
        body: Bytes,
        charged: Option<Admission>,
    ) -> Result<Accepted, Failure> {
        let route = self.route(signal)?;
        let len = body.len();
        let refused = |refusal| self.refused(signal, 0, refusal);
        route.output.has_room(len).map_err(refused)?;
        // Verified for forwarding only when the path would keep the bytes encoded.
        let forward = format == Format::Protobuf && route.output.takes_encoded(signal);
        let shape = self.prescan(signal, format, &body, forward)?;
        let mut admission = match charged {
            Some(admission) => admission,
            None => route.output.admit(0).map_err(refused)?,
        };
        if shape.forwardable {
            // Held as received: the body is all the memory it takes.
            admission.grow_to(len).map_err(refused)?;
            return self
                .forward(route, signal, body, shape.items, admission)
                .await;
        }
        self.charge_decoded(signal, &mut admission, len, shape)?;

        let decoded = decode::decode(signal, format, &body);
        drop(body);
        let payload = decoded.map_err(|err| {
            let reason = match format {
                Format::Protobuf => BadRequest::MalformedProtobuf,
                Format::Json => BadRequest::MalformedJson,
            };
            self.bad_request(reason, &err);
            Failure::Malformed(err.to_string())
        })?;
        // The body is gone; the decoded estimate stays charged.
        let _ = admission.grow_to(shape.decoded_bytes);
        self.hand_off(route, signal, payload, admission).await
    }

    /// Counts, rejects invalid items, sends and waits for the acknowledgement.
    async fn hand_off(
        &self,
        route: &Route,
        signal: Signal,
        mut payload: sentinel_pipeline::Payload,
        admission: Admission,
    ) -> Result<Accepted, Failure> {
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
        self.deliver(route, signal, items, admission, |acks| {
            route.output.send(Message::new(payload, acks))
        })
        .await?;
        Ok(Accepted { rejected })
    }

    /// Hands on a request the prescan found valid as it was received.
    async fn forward(
        &self,
        route: &Route,
        signal: Signal,
        body: Bytes,
        items: usize,
        admission: Admission,
    ) -> Result<Accepted, Failure> {
        route.metrics.received(items);
        // A body read by hyper or tonic is a slice of the connection's read buffer, and
        // keeping it would keep that whole buffer alive while the queue counts only the
        // slice. A copy of its own makes what the queue holds what it counts.
        let request = Encoded::new(signal, Bytes::copy_from_slice(&body), items);
        drop(body);
        self.deliver(route, signal, items, admission, |acks| {
            route.output.send_encoded(EncodedMessage { request, acks })
        })
        .await?;
        Ok(Accepted::default())
    }

    /// Sends `items` items with `send` and waits for the acknowledgement. The data carries
    /// the admission's charge until the exporter queues take it. Nothing is sent when
    /// there are no items: an empty request is a success.
    async fn deliver(
        &self,
        route: &Route,
        signal: Signal,
        items: usize,
        admission: Admission,
        send: impl FnOnce(Acks) -> Result<(), Refusal>,
    ) -> Result<(), Failure> {
        if items == 0 {
            return Ok(());
        }
        let (token, waiter) = ack_pair();
        let mut acks = Acks::one(token);
        acks.hold(admission);
        if let Err(refusal) = send(acks) {
            return Err(self.refused(signal, items, refusal));
        }
        match waiter.wait().await {
            Ok(()) => {
                route.metrics.sent(items);
                Ok(())
            }
            Err(refusal) => Err(self.refused(signal, items, refusal)),
        }
    }

    /// The limits and the decoded-size estimate, from the bytes alone.
    fn prescan(
        &self,
        signal: Signal,
        format: Format,
        body: &[u8],
        forward: bool,
    ) -> Result<Shape, Failure> {
        let shape = match format {
            Format::Protobuf if forward => prescan::prescan(signal, body, &self.limits),
            Format::Protobuf => prescan::prescan_limits(signal, body, &self.limits),
            Format::Json => prescan::prescan_json(signal, body, &self.limits),
        };
        shape.map_err(|violation| match violation {
            Violation::Malformed(_) => {
                let reason = match format {
                    Format::Protobuf => BadRequest::MalformedProtobuf,
                    Format::Json => BadRequest::MalformedJson,
                };
                self.bad_request(reason, &violation);
                Failure::Malformed(violation.to_string())
            }
            _ => {
                self.bad_request(BadRequest::OverLimit, &violation);
                let too_large = matches!(violation, Violation::TooManyItems { .. });
                Failure::OverLimit {
                    message: violation.to_string(),
                    too_large,
                }
            }
        })
    }

    /// Charges the body and its decoded form together (both live while decoding). A
    /// request that could never fit the budget is over a limit, not retryable.
    fn charge_decoded(
        &self,
        signal: Signal,
        admission: &mut Admission,
        len: usize,
        shape: Shape,
    ) -> Result<(), Failure> {
        let total = len.saturating_add(shape.decoded_bytes);
        if let Some(limit) = admission.smallest_limit().filter(|limit| total > *limit) {
            let message = format!(
                "decoded, the request would take about {total} bytes with its body, \
                 more than the memory limit of {limit} bytes"
            );
            self.bad_request(BadRequest::OverLimit, &message);
            return Err(Failure::OverLimit {
                message,
                too_large: true,
            });
        }
        admission
            .grow_to(total)
            .map_err(|refusal| self.refused(signal, 0, refusal))
    }

    fn refused(&self, signal: Signal, items: usize, refusal: Refusal) -> Failure {
        if let Some(route) = &self.routes[index(signal)] {
            route.metrics.refused(items);
        }
        tracing::debug!(component = %self.id, %signal, items, %refusal, "Request refused.");
        Failure::Refused(refusal)
    }
}
