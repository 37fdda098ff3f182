//! `loadbalancing` exporter: routes each trace (or service, resource, metric, stream) to
//! one backend of a changing set over OTLP/gRPC.
//!
//! Unlike the Collector's, it keeps no queue per backend: the exporter has one
//! `sending_queue` (memory or disk), and a record's backends are chosen when it leaves
//! the queue. A retry after a failure routes again with the membership of that moment,
//! so records meant for a backend that has left go to the ones that remain instead of
//! waiting in (and being lost with) that backend's queue (contrib #35378, #36717). Parts
//! of a record that one backend accepted are not sent again when another part is retried
//! ([`ledger`]).

#[cfg(test)]
mod compliance;
mod config;
mod dns;
mod ledger;
mod members;
mod ring;
mod split;
mod stats;
#[cfg(test)]
mod tests;

pub use config::{DnsResolver, LoadBalancingConfig, RoutingKey, StaticResolver};

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, RecordBatch, Signal,
};

use ledger::{Ledger, RecordId};
use members::{Members, Membership};
use stats::LbStats;

pub struct LoadBalancingFactory;

impl Factory for LoadBalancingFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "loadbalancing",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Routes traces, services or metric streams to one of a changing set of OTLP backends (consistent hashing with bounded load)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<LoadBalancingConfig>(node)
    }
}

impl ExporterFactory for LoadBalancingFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: LoadBalancingConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let other = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let stats = LbStats::new(&ctx.id, &ctx.metrics);
        let members = Arc::new(Members::new(config.protocol.otlp.clone(), stats.clone()));
        let mut first_wait = Duration::ZERO;
        if let Some(fixed) = &config.resolver.static_ {
            let endpoints = fixed
                .hostnames
                .iter()
                .map(|h| members::with_default_port(h))
                .collect();
            members
                .update(endpoints)
                .map_err(|e| other(e.to_string()))?;
            stats.resolution(true);
        }
        if let Some(dns) = &config.resolver.dns {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|e| other(format!("the DNS resolver needs a runtime: {e}")))?;
            first_wait = dns.timeout * 2;
            runtime.spawn(members::run_dns(
                dns.clone(),
                members.clone(),
                stats.clone(),
                ctx.shutdown.clone(),
            ));
        }
        let exporter = LoadBalancingExporter {
            members,
            routing_key: config.routing_key,
            load_factor: config.load_factor,
            first_wait,
            ledger: Ledger::default(),
            stats,
            warned_keys: Mutex::default(),
        };
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

pub struct LoadBalancingExporter {
    members: Arc<Members>,
    routing_key: Option<RoutingKey>,
    load_factor: f64,
    /// How long the first export waits for the first DNS answer.
    first_wait: Duration,
    ledger: Ledger,
    stats: LbStats,
    /// Signals whose configured routing key did not fit, already logged.
    warned_keys: Mutex<HashSet<Signal>>,
}

/// One part of a record bound for one backend.
struct Part {
    record: Option<RecordId>,
    key: u64,
    payload: Payload,
}

/// Everything one backend gets from one export.
struct Shipment {
    backend: usize,
    payload: Payload,
    items: usize,
    parts: Vec<(RecordId, u64)>,
}

impl LoadBalancingExporter {
    /// The routing key for a signal: the configured one if it fits the signal, else the
    /// signal's default (logged once).
    fn key_for(&self, signal: Signal) -> RoutingKey {
        let wanted = RoutingKey::for_signal(self.routing_key, signal);
        let fits = match wanted {
            RoutingKey::TraceId => signal != Signal::Metrics,
            RoutingKey::Metric | RoutingKey::StreamId => signal == Signal::Metrics,
            RoutingKey::Service | RoutingKey::Resource => true,
        };
        if fits {
            return wanted;
        }
        let fallback = RoutingKey::for_signal(None, signal);
        let first = self
            .warned_keys
            .lock()
            .map(|mut w| w.insert(signal))
            .unwrap_or(false);
        if first {
            tracing::warn!(routing_key = wanted.as_str(), %signal, fallback = fallback.as_str(), "This routing_key cannot route this signal; its default is used instead.");
        }
        fallback
    }

    /// Splits records by routing key, leaving out parts a backend already accepted.
    fn parts(&self, records: Vec<(Option<RecordId>, Payload)>) -> Vec<Part> {
        let mut parts = Vec::new();
        for (record, payload) in records {
            let key = self.key_for(payload.signal());
            let salt = record.map(|r| r.1).unwrap_or(0);
            let done = record.map(|r| self.ledger.delivered(r)).unwrap_or_default();
            for (k, payload) in split::split(payload, key, salt) {
                if done.contains(&k) {
                    self.stats.skipped_items.inc_by(payload.item_count() as u64);
                    continue;
                }
                parts.push(Part {
                    record,
                    key: k,
                    payload,
                });
            }
        }
        parts
    }

    /// Chooses a backend for every part and merges the parts of each backend.
    fn assign(&self, membership: &Membership, parts: Vec<Part>) -> Vec<Shipment> {
        let loads: Vec<usize> = membership
            .backends
            .iter()
            .map(|b| b.in_flight.load(Ordering::Relaxed))
            .collect();
        let mut shipments: Vec<Option<Shipment>> =
            (0..membership.backends.len()).map(|_| None).collect();
        for part in parts {
            let Some((backend, diverted)) =
                membership.ring.choose(part.key, &loads, self.load_factor)
            else {
                continue;
            };
            if diverted {
                self.stats.diverted_keys.inc();
            }
            let items = part.payload.item_count();
            let shipment = shipments[backend].get_or_insert_with(|| Shipment {
                backend,
                payload: Payload::empty(part.payload.signal()),
                items: 0,
                parts: Vec::new(),
            });
            shipment.items += items;
            // One signal per export, so appending cannot fail.
            let _ = shipment.payload.append(part.payload);
            if let Some(record) = part.record {
                shipment.parts.push((record, part.key));
            }
        }
        shipments.into_iter().flatten().collect()
    }

    /// Sends one backend its shipment; returns the parts it carried with the outcome.
    async fn ship(
        &self,
        membership: &Membership,
        shipment: Shipment,
    ) -> (Vec<(RecordId, u64)>, Result<(), ExportError>) {
        let backend = &membership.backends[shipment.backend];
        backend
            .in_flight
            .fetch_add(shipment.items, Ordering::Relaxed);
        let result = backend.client.export(shipment.payload).await;
        backend
            .in_flight
            .fetch_sub(shipment.items, Ordering::Relaxed);
        self.stats
            .outcome(&backend.endpoint, result.is_ok(), shipment.items);
        (
            shipment.parts,
            result.map_err(|e| with_endpoint(e, &backend.endpoint)),
        )
    }

    async fn deliver(&self, records: Vec<(Option<RecordId>, Payload)>) -> Result<(), ExportError> {
        let ids: Vec<RecordId> = records.iter().filter_map(|(id, _)| *id).collect();
        let membership = self.members.ready(self.first_wait).await;
        if membership.ring.is_empty() {
            return Err(ExportError::retryable(
                "no backends: the resolver has found none (yet)",
            ));
        }
        let parts = self.parts(records);
        let shipments = self.assign(&membership, parts);
        let results =
            futures::future::join_all(shipments.into_iter().map(|s| self.ship(&membership, s)))
                .await;
        let mut accepted = Vec::new();
        let mut outcomes = Vec::with_capacity(results.len());
        for (parts, result) in results {
            if result.is_ok() {
                accepted.extend(parts);
            }
            outcomes.push(result);
        }
        let outcome = combine(outcomes);
        // Only a partial failure needs remembering: the records come back for the rest.
        match &outcome {
            Ok(()) => self.ledger.forget(ids),
            Err(_) => self.ledger.mark(accepted),
        }
        outcome
    }
}

fn with_endpoint(error: ExportError, endpoint: &str) -> ExportError {
    match error {
        ExportError::Retryable {
            message,
            retry_after,
        } => ExportError::Retryable {
            message: format!("backend {endpoint}: {message}"),
            retry_after,
        },
        ExportError::Permanent { message } => ExportError::Permanent {
            message: format!("backend {endpoint}: {message}"),
        },
    }
}

/// One outcome for the export: retryable if any backend's failure is (the parts it
/// accepted are not sent again), permanent if all failures are.
fn combine(results: Vec<Result<(), ExportError>>) -> Result<(), ExportError> {
    let mut retryable: Option<(Vec<String>, Option<Duration>)> = None;
    let mut permanent: Vec<String> = Vec::new();
    for result in results {
        match result {
            Ok(()) => {}
            Err(ExportError::Retryable {
                message,
                retry_after,
            }) => {
                let (messages, after) = retryable.get_or_insert((Vec::new(), None));
                messages.push(message);
                *after = (*after).max(retry_after);
            }
            Err(ExportError::Permanent { message }) => permanent.push(message),
        }
    }
    match retryable {
        Some((mut messages, retry_after)) => {
            messages.extend(permanent);
            Err(ExportError::Retryable {
                message: messages.join("; "),
                retry_after,
            })
        }
        None if permanent.is_empty() => Ok(()),
        None => Err(ExportError::Permanent {
            message: permanent.join("; "),
        }),
    }
}

#[async_trait]
impl Exporter for LoadBalancingExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.deliver(vec![(None, payload)]).await
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        let queue = batch.queue_id;
        let records = batch
            .records
            .into_iter()
            .map(|r| (Some((queue, r.seq)), r.payload))
            .collect();
        self.deliver(records).await
    }
}
