//! The path every hook event takes, from HTTP or from the spool: policy on the raw event,
//! redaction, the size cap, then the pipelines, acknowledged before the caller answers.
//!
//! Parsing, the policy, redaction and the cap are CPU work proportional to the event's
//! size (up to the request limit), so they run on tokio's blocking pool, at most one
//! event per core at a time ([`HookIngest::prepare`]), never on the runtime's workers
//! that serve OTLP intake.

use std::sync::Arc;

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use sentinel_pipeline::{ack_pair, Acks, ComponentMetrics, Message, Output, Payload, Refusal};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::record::{self, event_name};
use super::redact::Redactor;
use crate::policy::{Action, Decision, Policy};

/// Everything needed to turn hook events into acknowledged log records.
pub struct HookIngest {
    id: String,
    /// `None` when no pipeline takes logs from this receiver (then every event is refused).
    output: Option<Output>,
    metrics: ComponentMetrics,
    redactor: Option<Redactor>,
    policy: Policy,
    max_payload: usize,
    /// Events being prepared on the blocking pool at once.
    cpu: Semaphore,
}

/// Why a hook event could not be turned into a record.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed JSON: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the hook event must be a JSON object")]
    NotAnObject,
    #[error("the event could not be prepared: {0}")]
    Pool(#[from] tokio::task::JoinError),
}

/// An event ready for the pipelines: its policy decision and its log record.
pub struct Prepared {
    pub decision: Option<Decision>,
    pub record: LogRecord,
}

/// Parses one hook event (a JSON object).
pub fn parse_event(body: &[u8]) -> Result<Value, EventError> {
    match serde_json::from_slice(body)? {
        event @ Value::Object(_) => Ok(event),
        _ => Err(EventError::NotAnObject),
    }
}

/// The whole pure path of one event: parse, the policy on a `PreToolUse` (unredacted),
/// redaction, the size cap, the log record. No I/O; the fuzz target calls this.
pub fn prepare_event(
    body: &[u8],
    redactor: Option<&Redactor>,
    policy: &Policy,
    max_payload: usize,
) -> Result<Prepared, EventError> {
    let mut event = parse_event(body)?;
    let decision = (event_name(&event) == "PreToolUse").then(|| policy.evaluate(&event));
    if let Some(redactor) = redactor {
        redactor.redact_event(&mut event);
    }
    let record = record::to_log_record(event, decision.as_ref(), max_payload);
    Ok(Prepared { decision, record })
}

impl HookIngest {
    pub fn new(
        id: &str,
        output: Option<Output>,
        metrics: ComponentMetrics,
        redactor: Option<Redactor>,
        policy: Policy,
        max_payload: usize,
    ) -> HookIngest {
        HookIngest {
            id: id.to_string(),
            output,
            metrics,
            redactor,
            policy,
            max_payload,
            cpu: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        }
    }

    /// [`prepare_event`] on the blocking pool, at most one event per core at a time.
    pub async fn prepare(self: &Arc<Self>, body: bytes::Bytes) -> Result<Prepared, EventError> {
        // The semaphore is never closed.
        let _permit = self.cpu.acquire().await;
        let ingest = self.clone();
        tokio::task::spawn_blocking(move || {
            prepare_event(
                &body,
                ingest.redactor.as_ref(),
                &ingest.policy,
                ingest.max_payload,
            )
        })
        .await?
    }

    /// Prepares the spool lines of one batch on the blocking pool: records of the JSON
    /// objects, their total size, and how many lines were malformed.
    pub async fn prepare_lines(
        self: &Arc<Self>,
        lines: Vec<String>,
    ) -> Result<(Vec<LogRecord>, usize, usize), EventError> {
        let _permit = self.cpu.acquire().await;
        let ingest = self.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let (mut records, mut bytes, mut malformed) = (Vec::new(), 0, 0);
            for line in &lines {
                match prepare_event(
                    line.as_bytes(),
                    ingest.redactor.as_ref(),
                    &ingest.policy,
                    ingest.max_payload,
                ) {
                    Ok(prepared) => {
                        bytes += line.len();
                        records.push(prepared.record);
                    }
                    Err(_) => malformed += 1,
                }
            }
            (records, bytes, malformed)
        })
        .await?;
        Ok(prepared)
    }

    /// Counts spool lines that are not a JSON object (logged the first time).
    pub fn drop_malformed(&self, lines: usize) {
        if lines > 0 {
            self.metrics
                .dropped(lines, "malformed line in the hook spool file");
        }
    }

    /// Hands records to the pipelines and waits until every exporter queue on the way
    /// accepted them. `bytes` is charged against the memory budgets meanwhile.
    pub async fn deliver(&self, records: Vec<LogRecord>, bytes: usize) -> Result<(), Refusal> {
        let items = records.len();
        self.metrics.received(items);
        let Some(output) = &self.output else {
            self.metrics.refused(items);
            return Err(Refusal::unavailable(format!(
                "no pipeline takes logs from {}",
                self.id
            )));
        };
        let refused = |refusal: Refusal| {
            self.metrics.refused(items);
            tracing::debug!(component = %self.id, items, %refusal, "Hook events refused.");
            refusal
        };
        let admission = output.admit(bytes).map_err(refused)?;
        let (token, waiter) = ack_pair();
        let mut acks = Acks::one(token);
        // The data carries the charge until the exporter queues take it.
        acks.hold(admission);
        let payload = Payload::Logs(record::to_request(records));
        output.send(Message::new(payload, acks)).map_err(refused)?;
        waiter.wait().await.map_err(refused)?;
        self.metrics.sent(items);
        Ok(())
    }
}

/// The JSON Claude Code reads from a 2xx reply: a PreToolUse permission decision, or `{}`.
pub fn reply_body(decision: Option<&Decision>) -> Value {
    let Some(decision) = decision else {
        return json!({});
    };
    let permission = match decision.action {
        Action::Allow => return json!({}),
        Action::Ask => "ask",
        Action::Deny => "deny",
    };
    let reason = decision
        .reason
        .clone()
        .unwrap_or_else(|| match &decision.rule_id {
            Some(rule) => format!("blocked by sentinel policy rule {rule}"),
            None => "blocked by sentinel policy".to_string(),
        });
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": permission,
            "permissionDecisionReason": reason,
        }
    })
}
