use std::net::SocketAddr;

use async_trait::async_trait;
use sentinel_pipeline::testing::{ClientOutcome, ReceiverCompliance, ReceiverDriver};
use sentinel_pipeline::Signal;

use super::HooksReceiverFactory;
use crate::receivers::compliance_client::{free_port, post};

/// Claude Code's `"type": "http"` hook: one event per POST, one log record each.
struct Hook {
    address: SocketAddr,
}

#[async_trait]
impl ReceiverDriver for Hook {
    async fn push(&mut self) -> ClientOutcome {
        let event = serde_json::json!({
            "hook_event_name": "PostToolUse",
            "session_id": "compliance",
            "tool_name": "Bash",
            "tool_input": {"command": "ls"},
        });
        let body = serde_json::to_vec(&event).expect("JSON");
        post(self.address, "/v1/hooks", "application/json", body, 1).await
    }
}

#[tokio::test]
async fn hooks_meets_the_receiver_contract() {
    let port = free_port();
    let spool = std::env::temp_dir().join(format!("sentinel-hooks-compliance-{}", port));
    let config = format!(
        "endpoint: 127.0.0.1:{port}\nspool_path: {}\n",
        spool.join("spool.jsonl").display()
    );
    let mut hook = Hook {
        address: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let report = ReceiverCompliance::new(&HooksReceiverFactory, &config)
        .run(&mut hook)
        .await;
    assert_eq!(report.counts[&Signal::Logs].sent, 1);
    let _ = std::fs::remove_dir_all(spool);
}
