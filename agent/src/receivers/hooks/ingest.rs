//! The path every hook event takes, from HTTP or from the spool: policy on the raw event,
//! redaction, the size cap, then the pipelines, acknowledged before the caller answers.

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use sentinel_pipeline::{ack_pair, Acks, ComponentMetrics, Message, Output, Payload, Refusal};
use serde_json::{json, Value};

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
        }
    }

    /// Evaluates the policy when the event is a `PreToolUse` (on the unredacted event:
    /// the policy must see the real command).
    pub fn decide(&self, event: &Value) -> Option<Decision> {
        (event_name(event) == "PreToolUse").then(|| self.policy.evaluate(event))
    }

    /// Builds the log record of one event: redacted, capped, with the decision attributes.
    pub fn record(&self, mut event: Value, decision: Option<&Decision>) -> LogRecord {
        if let Some(redactor) = &self.redactor {
            redactor.redact_event(&mut event);
        }
        record::to_log_record(event, decision, self.max_payload)
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
