//! Live samples of the data flowing out of a component, for `sentinel tap` and the admin
//! API `/api/v1/tap`.
//!
//! Topology building wraps every hand-off in a tap point: a receiver's or connector's
//! input into each pipeline ([`TappedConsumer`]), each processor's stage output
//! ([`TappedProcessor`]) and what enters each exporter's queue. A point costs one atomic
//! load per message while nobody taps. While a tap is open, a matching point copies the
//! payload (never the acknowledgements) into the tap's bounded channel, and only when the
//! channel has room: a slow reader makes the points skip, not queue.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::time::Instant;

use tokio::sync::mpsc;

use crate::component::{decode_for_consumer, Consumer, Processor};
use crate::visit;
use crate::{EncodedMessage, Message, Payload, Refusal, Signal};

mod digest;
mod services;

pub use digest::{Digest, DigestKind, FiringAlert, LlmCost};
pub use services::{ServiceCount, ServiceCounter};

/// Every tap point of the running topology and the open taps.
pub struct TapRegistry {
    /// Open taps: the only thing a point reads while nobody taps.
    open: AtomicUsize,
    next_id: AtomicU64,
    taps: Mutex<Vec<Tap>>,
    /// `(component, output)` of every point made, to tell an unknown component from a quiet one.
    points: Mutex<BTreeSet<(String, String)>>,
    /// Spans per `service.name` as receivers hand them on (the status snapshot's top services).
    services: ServiceCounter,
    /// LLM cost and firing alerts, from the `llm_cost` and `alert_rules` connectors' output.
    digest: Digest,
}

struct Tap {
    id: u64,
    component: String,
    /// `None`: every primary point of the component; `Some`: the point of that output only.
    output: Option<String>,
    sender: mpsc::Sender<Payload>,
}

/// An open tap; closes when dropped.
pub struct Subscription {
    registry: Arc<TapRegistry>,
    id: u64,
    pub receiver: mpsc::Receiver<Payload>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut taps = lock(&self.registry.taps);
        taps.retain(|tap| tap.id != self.id);
        self.registry.open.store(taps.len(), Ordering::Release);
    }
}

impl TapRegistry {
    pub fn new() -> Arc<TapRegistry> {
        Arc::new(TapRegistry {
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            taps: Mutex::new(Vec::new()),
            points: Mutex::new(BTreeSet::new()),
            services: ServiceCounter::new(services::MAX_SERVICES),
            digest: Digest::default(),
        })
    }

    /// Opens a tap on `component` (on its `output` pipeline only, when given). At most
    /// `capacity` payloads wait for the reader; more are not copied.
    pub fn subscribe(
        self: &Arc<Self>,
        component: &str,
        output: Option<&str>,
        capacity: usize,
    ) -> Subscription {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut taps = lock(&self.taps);
        taps.push(Tap {
            id,
            component: component.to_string(),
            output: output.map(str::to_string),
            sender,
        });
        self.open.store(taps.len(), Ordering::Release);
        Subscription {
            registry: self.clone(),
            id,
            receiver,
        }
    }

    /// The outputs (pipeline names; empty for processors' and exporters' single point) of
    /// `component`, or `None` when no point of that id exists.
    pub fn outputs_of(&self, component: &str) -> Option<Vec<String>> {
        let points = lock(&self.points);
        let outputs: Vec<String> = points
            .iter()
            .filter(|(c, _)| c == component)
            .map(|(_, o)| o.clone())
            .collect();
        (!outputs.is_empty()).then_some(outputs)
    }

    /// Every component id that has a point, sorted.
    pub fn components(&self) -> Vec<String> {
        let points = lock(&self.points);
        let mut ids: Vec<String> = points.iter().map(|(c, _)| c.clone()).collect();
        ids.dedup();
        ids
    }

    /// The top services by spans handed on by receivers.
    pub fn services(&self) -> &ServiceCounter {
        &self.services
    }

    /// LLM cost and firing alerts seen so far.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// A point of `component` on `output`. A primary point is what a tap without
    /// `--output` sees: one per signal for a receiver or connector (the others carry the
    /// same data into other pipelines), every point of a processor or exporter.
    pub fn point(self: &Arc<Self>, component: &str, output: &str, primary: bool) -> TapPoint {
        lock(&self.points).insert((component.to_string(), output.to_string()));
        TapPoint {
            registry: self.clone(),
            component: Arc::from(component),
            output: Arc::from(output),
            primary,
        }
    }

    /// Wraps a receiver's or connector's hand-off into pipeline `output`, or (with an
    /// empty `output`) what enters an exporter's queue.
    pub fn consumer(
        self: &Arc<Self>,
        component: &str,
        output: &str,
        primary: bool,
        inner: Arc<dyn Consumer>,
    ) -> Arc<dyn Consumer> {
        Arc::new(TappedConsumer {
            inner,
            point: self.point(component, output, primary),
            feed: Feed::None,
        })
    }

    /// Like [`TapRegistry::consumer`] for a receiver or connector of type `type_name`
    /// (`None`: a receiver): a receiver's primary output feeds the top-services counter,
    /// an `llm_cost` or `alert_rules` connector's primary output the status digest.
    pub fn source_consumer(
        self: &Arc<Self>,
        component: &str,
        connector_type: Option<&str>,
        output: &str,
        primary: bool,
        inner: Arc<dyn Consumer>,
    ) -> Arc<dyn Consumer> {
        let feed = match connector_type {
            _ if !primary => Feed::None,
            None => Feed::Services,
            Some(type_name) => DigestKind::for_type(type_name).map_or(Feed::None, Feed::Digest),
        };
        Arc::new(TappedConsumer {
            inner,
            point: self.point(component, output, primary),
            feed,
        })
    }

    /// Wraps one processor instance; `pipeline` names the pipeline it runs in.
    pub fn processor(
        self: &Arc<Self>,
        component: &str,
        pipeline: &str,
        inner: Box<dyn Processor>,
    ) -> Box<dyn Processor> {
        Box::new(TappedProcessor {
            inner,
            point: self.point(component, pipeline, true),
        })
    }
}

/// One place data passes a tap.
#[derive(Clone)]
pub struct TapPoint {
    registry: Arc<TapRegistry>,
    component: Arc<str>,
    output: Arc<str>,
    primary: bool,
}

impl TapPoint {
    /// True while any tap is open (not necessarily on this point).
    #[inline]
    pub fn active(&self) -> bool {
        self.registry.open.load(Ordering::Acquire) > 0
    }

    /// Copies `payload` to every matching tap that has room.
    pub fn offer(&self, payload: &Payload) {
        if !self.active() {
            return;
        }
        let taps = lock(&self.registry.taps);
        for tap in taps.iter().filter(|tap| self.matches(tap)) {
            if let Ok(permit) = tap.sender.try_reserve() {
                permit.send(payload.clone());
            }
        }
    }

    fn matches(&self, tap: &Tap) -> bool {
        *tap.component == *self.component
            && match &tap.output {
                None => self.primary,
                Some(output) => **output == *self.output,
            }
    }
}

/// A receiver's or connector's input into one pipeline, or an exporter's queue, with a
/// tap point on what it accepted.
pub struct TappedConsumer {
    inner: Arc<dyn Consumer>,
    point: TapPoint,
    feed: Feed,
}

/// What else a consumer's accepted data feeds, always (not only while tapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    None,
    Services,
    Digest(DigestKind),
}

// Every method of `Consumer` is forwarded to `inner`.
impl Consumer for TappedConsumer {
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        self.inner.has_room(bytes)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        let registry = &self.point.registry;
        match (self.feed, &msg.payload) {
            (Feed::Services, Payload::Traces(request)) => registry.services.count(request),
            (Feed::Digest(DigestKind::LlmCost), Payload::Metrics(request)) => {
                registry.digest.add_costs(request)
            }
            (Feed::Digest(DigestKind::Alerts), Payload::Logs(request)) => {
                registry.digest.follow_alerts(request)
            }
            _ => {}
        }
        if !self.point.active() {
            return self.inner.consume(msg);
        }
        let copy = msg.payload.clone();
        self.inner.consume(msg)?;
        self.point.offer(&copy);
        Ok(())
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        // The digests read decoded data; only connectors feed them, which never encode.
        !matches!(self.feed, Feed::Digest(_)) && self.inner.takes_encoded(signal)
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        match (self.feed, msg.request.signal()) {
            (Feed::Digest(_), _) => return self.consume(decode_for_consumer(msg)?),
            (Feed::Services, Signal::Traces) => self
                .point
                .registry
                .services
                .count_encoded(msg.request.bytes()),
            _ => {}
        }
        if !self.point.active() {
            return self.inner.consume_encoded(msg);
        }
        let copy = msg.request.clone();
        self.inner.consume_encoded(msg)?;
        // Decoded only while a tap is open, and only for the taps.
        if let Ok(payload) = copy.decode() {
            self.point.offer(&payload);
        }
        Ok(())
    }
}

/// A processor whose stage output passes a tap point.
pub struct TappedProcessor {
    inner: Box<dyn Processor>,
    point: TapPoint,
}

impl TappedProcessor {
    fn offer_from(&self, out: &[Message], start: usize) {
        if self.point.active() {
            for msg in &out[start.min(out.len())..] {
                self.point.offer(&msg.payload);
            }
        }
    }
}

// Every method of `Processor` is forwarded to `inner`.
impl Processor for TappedProcessor {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        let start = out.len();
        self.inner.process(msg, out);
        self.offer_from(out, start);
    }

    fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Message>) {
        let start = out.len();
        self.inner.on_deadline(now, out);
        self.offer_from(out, start);
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        let start = out.len();
        self.inner.flush(out);
        self.offer_from(out, start);
    }

    fn unchanged(&self) -> Option<crate::component::Unchanged> {
        self.inner.unchanged().map(|_| crate::component::Unchanged {
            tap: Some(self.point.clone()),
        })
    }
}

/// Items a tap counts: spans, metrics or log records.
pub fn tap_items(payload: &Payload) -> usize {
    match payload {
        Payload::Traces(req) => visit::item_count(req),
        Payload::Metrics(req) => visit::item_count(req),
        Payload::Logs(req) => visit::item_count(req),
    }
}

/// Keeps the first `keep` items (as [`tap_items`] counts them); returns how many are left.
pub fn truncate(payload: &mut Payload, keep: usize) -> usize {
    fn first<Q: visit::ExportRequest>(req: &mut Q, keep: usize) {
        let mut seen = 0;
        visit::retain_items(req, |_, _, _| {
            seen += 1;
            seen <= keep
        });
    }
    match payload {
        Payload::Traces(req) => first(req, keep),
        Payload::Metrics(req) => first(req, keep),
        Payload::Logs(req) => first(req, keep),
    }
    tap_items(payload)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
