//! Data hand-off: where a stage hands data on ([`Consumer`]), the fan-out to several
//! consumers, and a receiver's or connector's output with its memory budgets.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ack::Refusal;
use crate::admission::{Admission, MemoryBudget};
use crate::signal::{EncodedMessage, Message, Signal};

/// Where a stage hands data on. Never blocks: when full it refuses, and the caller refuses
/// the client's request, which the client retries.
pub trait Consumer: Send + Sync {
    /// On `Err` the consumer kept nothing of the message.
    fn consume(&self, msg: Message) -> Result<(), Refusal>;

    /// Whether a message of about `bytes` (encoded) would be taken now. Receivers ask
    /// before reading or decoding a request, so a full path refuses it without paying
    /// for the decode. A hint only: `consume` may still refuse. Wrappers must forward it.
    fn has_room(&self, _bytes: usize) -> Result<(), Refusal> {
        Ok(())
    }

    /// Whether [`Consumer::consume_encoded`] keeps a request of `signal` in its received
    /// protobuf form up to the exporter queues: no processor or connector on the way, and
    /// exporters that only re-encode ([`Exporter::takes_encoded`]). Receivers ask before
    /// decoding. Wrappers must forward it.
    fn takes_encoded(&self, _signal: Signal) -> bool {
        false
    }

    /// Takes a request still in its received encoding. Receivers send one only after
    /// [`Consumer::takes_encoded`] said yes, but a reload may have changed the path since,
    /// so the default decodes it and calls [`Consumer::consume`]. Wrappers must forward it.
    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        self.consume(decode_for_consumer(msg)?)
    }
}

/// The decoded form of a message for a consumer that needs it. The receiver checked that
/// the bytes decode, so a failure is a bug: logged, and refused (retryable) rather than lost.
pub fn decode_for_consumer(msg: EncodedMessage) -> Result<Message, Refusal> {
    msg.decode().map_err(|(err, acks)| {
        tracing::error!(%err, "A request checked at the receiver does not decode.");
        let refusal = Refusal::unavailable(format!("the request does not decode: {err}"));
        acks.refuse(&refusal);
        refusal
    })
}

/// Sends a copy of each message to several consumers. A refusal by one does not stop the
/// others; the first refusal is returned so the client retries (at-least-once).
#[derive(Clone, Default)]
pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Fanout {
    pub fn new(consumers: Vec<Arc<dyn Consumer>>) -> Self {
        Fanout { consumers }
    }

    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }
}

impl Consumer for Fanout {
    /// Refuses only when no consumer has room. While one of them can take the data it is
    /// decoded and handed to those that can (the full ones refuse and the client retries),
    /// so a dead exporter with a full queue does not stall a healthy one beside it.
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let mut first_refusal = None;
        for consumer in &self.consumers {
            match consumer.has_room(bytes) {
                Ok(()) => return Ok(()),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        first_refusal.map_or(Ok(()), Err)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.each(msg, |consumer, msg| consumer.consume(msg))
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        !self.consumers.is_empty() && self.consumers.iter().all(|c| c.takes_encoded(signal))
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        self.each(msg, |consumer, msg| consumer.consume_encoded(msg))
    }
}

impl Fanout {
    /// Hands `msg` to every consumer (a copy to all but the last); the first refusal wins.
    fn each<M: Clone>(
        &self,
        msg: M,
        hand: impl Fn(&dyn Consumer, M) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        let Some((last, rest)) = self.consumers.split_last() else {
            return Ok(());
        };
        let mut first_refusal = None;
        for consumer in rest {
            if let Err(refusal) = hand(consumer.as_ref(), msg.clone()) {
                first_refusal.get_or_insert(refusal);
            }
        }
        if let Err(refusal) = hand(last.as_ref(), msg) {
            first_refusal.get_or_insert(refusal);
        }
        match first_refusal {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}

/// A receiver's or connector's output for one signal: the pipelines that take the signal
/// from it, plus the memory budgets (`memory_limiter`) of those pipelines.
#[derive(Clone, Default)]
pub struct Output {
    pub fanout: Fanout,
    pub budgets: Vec<Arc<MemoryBudget>>,
}

impl Output {
    /// Charges `bytes` against every budget before the receiver decodes anything. Hold
    /// the admission in the message's acks ([`crate::Acks::hold`]): [`Output::send`]
    /// then charges nothing more, and it is released once the exporter queues took the data.
    pub fn admit(&self, bytes: usize) -> Result<Admission, Refusal> {
        Admission::charge(&self.budgets, bytes)
    }

    /// Whether the pipelines and the exporter queues behind them would take about
    /// `bytes` now ([`Consumer::has_room`]); cheap, asked before reading a body.
    pub fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        for budget in &self.budgets {
            if budget.used().saturating_add(bytes) > budget.limit() {
                return Err(budget.refusal(bytes));
            }
        }
        self.fanout.has_room(bytes)
    }

    /// Hands a message to every pipeline. Data that has not paid the pipelines' memory
    /// budgets yet (scraped, derived by a connector) is charged its encoded size here; a
    /// full budget refuses it (retryable). On refusal the message's acks are refused too.
    pub fn send(&self, mut msg: Message) -> Result<(), Refusal> {
        let payload = &msg.payload;
        if let Err(refusal) = self.charge_unpaid(&mut msg.acks, || payload.encoded_len()) {
            msg.acks.refuse(&refusal);
            return Err(refusal);
        }
        let acks = msg.acks.clone();
        self.fanout
            .consume(msg)
            .inspect_err(|refusal| acks.refuse(refusal))
    }

    /// Whether every pipeline would keep a request of `signal` encoded up to its exporter
    /// queues ([`Consumer::takes_encoded`]).
    pub fn takes_encoded(&self, signal: Signal) -> bool {
        self.fanout.takes_encoded(signal)
    }

    /// [`Output::send`] for a request still encoded.
    pub fn send_encoded(&self, mut msg: EncodedMessage) -> Result<(), Refusal> {
        let len = msg.request.len();
        if let Err(refusal) = self.charge_unpaid(&mut msg.acks, || len) {
            msg.acks.refuse(&refusal);
            return Err(refusal);
        }
        let acks = msg.acks.clone();
        self.fanout
            .consume_encoded(msg)
            .inspect_err(|refusal| acks.refuse(refusal))
    }

    /// Charges the data's size (`bytes`, computed only if needed) to the budgets it has
    /// not paid yet.
    fn charge_unpaid(
        &self,
        acks: &mut crate::Acks,
        bytes: impl FnOnce() -> usize,
    ) -> Result<(), Refusal> {
        let unpaid: Vec<Arc<MemoryBudget>> = self
            .budgets
            .iter()
            .filter(|budget| !acks.has_paid(budget))
            .cloned()
            .collect();
        if unpaid.is_empty() {
            return Ok(());
        }
        let admission = Admission::charge(&unpaid, bytes())?;
        acks.hold(admission);
        Ok(())
    }
}

/// Outputs per signal.
pub type Outputs = BTreeMap<Signal, Output>;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ack::{ack_pair, Acks, RefusalKind};
    use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use crate::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
    use crate::signal::Payload;

    /// A pipeline input that keeps what it takes, as a batch processor would.
    #[derive(Default)]
    struct Holding(Mutex<Vec<Message>>);

    impl Consumer for Holding {
        fn consume(&self, msg: Message) -> Result<(), Refusal> {
            self.0.lock().unwrap().push(msg);
            Ok(())
        }
    }

    fn scraped() -> Message {
        let metric = Metric {
            name: "system.cpu.time".into(),
            ..Default::default()
        };
        Message::unacked(Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }))
    }

    fn output(budget: &Arc<MemoryBudget>) -> (Output, Arc<Holding>) {
        let pipeline = Arc::new(Holding::default());
        let output = Output {
            fanout: Fanout::new(vec![pipeline.clone()]),
            budgets: vec![budget.clone()],
        };
        (output, pipeline)
    }

    #[test]
    fn unpaid_data_is_charged_until_the_pipeline_lets_it_go() {
        let size = scraped().payload.encoded_len();
        let budget = MemoryBudget::new("memory_limiter", 10 * size);
        let (output, pipeline) = output(&budget);
        output.send(scraped()).unwrap();
        output.send(scraped()).unwrap();
        assert_eq!(budget.used(), 2 * size);
        pipeline.0.lock().unwrap().clear();
        assert_eq!(budget.used(), 0, "released once the data left the pipeline");
    }

    #[test]
    fn a_full_budget_refuses_scraped_data_until_released() {
        let size = scraped().payload.encoded_len();
        let budget = MemoryBudget::new("memory_limiter", size);
        let (output, pipeline) = output(&budget);
        output.send(scraped()).unwrap();
        let refusal = output.send(scraped()).unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Capacity, "retryable");
        assert_eq!(
            pipeline.0.lock().unwrap().len(),
            1,
            "the refused data never entered"
        );
        pipeline.0.lock().unwrap().clear();
        output.send(scraped()).unwrap();
    }

    #[tokio::test]
    async fn a_refusal_by_the_budget_refuses_the_client() {
        let budget = MemoryBudget::new("memory_limiter", 1);
        let (output, _pipeline) = output(&budget);
        let (token, waiter) = ack_pair();
        let msg = Message::new(scraped().payload, Acks::one(token));
        assert!(output.send(msg).is_err());
        assert_eq!(waiter.wait().await.unwrap_err().kind, RefusalKind::Capacity);
    }

    #[test]
    fn data_admitted_before_decoding_is_not_charged_twice() {
        let budget = MemoryBudget::new("memory_limiter", 1000);
        let (output, pipeline) = output(&budget);
        let admission = output.admit(700).unwrap();
        let mut msg = scraped();
        msg.acks.hold(admission);
        output.send(msg).unwrap();
        assert_eq!(budget.used(), 700);
        pipeline.0.lock().unwrap().clear();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn connector_output_pays_the_downstream_budget_too() {
        let size = scraped().payload.encoded_len();
        let upstream = MemoryBudget::new("memory_limiter/upstream", 1000);
        let downstream = MemoryBudget::new("memory_limiter/downstream", size);
        let (output, pipeline) = output(&downstream);
        // What a connector derives keeps the upstream acks, and their upstream charge.
        let mut derived = scraped();
        derived
            .acks
            .hold(Admission::charge(std::slice::from_ref(&upstream), 300).unwrap());
        output.send(derived.clone()).unwrap();
        assert_eq!((upstream.used(), downstream.used()), (300, size));
        assert_eq!(
            output.send(derived).unwrap_err().kind,
            RefusalKind::Capacity,
            "the downstream budget is full"
        );
        pipeline.0.lock().unwrap().clear();
        assert_eq!((upstream.used(), downstream.used()), (0, 0));
    }

    /// A consumer whose queue is full.
    struct Full;

    impl Consumer for Full {
        fn has_room(&self, _bytes: usize) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }

        fn consume(&self, _msg: Message) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }
    }

    #[test]
    fn a_fanout_refuses_before_decoding_only_when_no_consumer_has_room() {
        let healthy: Arc<dyn Consumer> = Arc::new(Holding::default());
        let full: Arc<dyn Consumer> = Arc::new(Full);
        assert!(Fanout::new(vec![full.clone(), healthy])
            .has_room(10)
            .is_ok());
        let refusal = Fanout::new(vec![full.clone(), full])
            .has_room(10)
            .unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Capacity);
        assert!(Fanout::new(Vec::new()).has_room(10).is_ok());
    }
}
