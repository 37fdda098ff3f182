//! Entry points for the fuzz targets in `fuzz/` (docs/fuzzing.md): each runs one parser
//! the agent exposes to untrusted input, exactly as the agent runs it, on arbitrary bytes.
//! The benches in `agent/benches/` use them too. Not an API for anything else.

use std::path::PathBuf;
use std::sync::OnceLock;

use sentinel_pipeline::Signal;

use crate::components::Registry;
use crate::policy::Policy;
use crate::receivers::hooks::Redactor;
use crate::receivers::otlp::decode::{self, Format};
use crate::receivers::otlp::prescan;

/// Pre-scans an OTLP export request (protobuf or OTLP/JSON) as the receiver does before
/// decoding, decodes it and applies the receiver's validity checks (partial success), then
/// re-encodes what is left. Bytes the prescan calls forwardable (passthrough) must decode
/// to exactly its item count with nothing to reject.
pub fn otlp_request(signal: Signal, json: bool, bytes: &[u8]) {
    let format = if json { Format::Json } else { Format::Protobuf };
    // The pre-decode pass the receiver runs first on the same bytes (limits, decoded size).
    let limits = default_limits();
    let shape = if json {
        prescan::prescan_json(signal, bytes, &limits)
    } else {
        prescan::prescan(signal, bytes, &limits)
    };
    let forwardable = shape.as_ref().ok().filter(|shape| shape.forwardable);
    let decoded = decode::decode(signal, format, bytes);
    if let Some(shape) = forwardable {
        // What passthrough relies on: bytes it forwards undecoded decode, hold the items
        // it counted, and have none that validation would reject.
        let payload = decoded.as_ref().expect("forwardable bytes decode");
        assert_eq!(payload.item_count(), shape.items, "forwarded item count");
    }
    if let Ok(mut payload) = decoded {
        let before = payload.item_count();
        let rejected = decode::reject_invalid(&mut payload).map_or(0, |r| r.items);
        assert!(
            forwardable.is_none() || rejected == 0,
            "forwardable bytes with items to reject"
        );
        assert_eq!(
            payload.item_count() + rejected,
            before,
            "items lost by validation"
        );
        let encoded = payload.encode_to_vec();
        assert_eq!(encoded.len(), payload.encoded_len());
    }
}

/// One hook event as the hooks receiver handles a request body
/// (`receivers::hooks::prepare_event`): JSON parse, policy decision on the unredacted
/// event, redaction, then the capped log record.
pub fn hook_event(bytes: &[u8]) {
    static STATE: OnceLock<(Policy, Redactor)> = OnceLock::new();
    let (policy, redactor) = STATE.get_or_init(|| {
        (
            Policy::builtin(),
            Redactor::new(&[]).expect("the built-in patterns compile"),
        )
    });
    let _ = crate::receivers::hooks::prepare_event(bytes, Some(redactor), policy, 4096);
}

/// Parses a hook policy file and, when valid, evaluates it on a fixed Bash event: the
/// shell-command parser runs on every rule's conditions.
pub fn policy(text: &str, command: &str) {
    if let Ok(policy) = Policy::from_yaml(text, "fuzz.yaml") {
        let event = serde_json::json!({
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": command},
        });
        let _ = policy.evaluate(&event);
    }
    let event = serde_json::json!({
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command},
    });
    static BUILTIN: OnceLock<Policy> = OnceLock::new();
    let _ = BUILTIN.get_or_init(Policy::builtin).evaluate(&event);
}

/// Loads and validates a config given as YAML text, as `sentinel validate` does (the text
/// goes through a file because loading merges files). Environment references resolve to
/// nothing.
pub fn config_text(text: &[u8]) {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let path = FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("sentinel-fuzz-config-{}.yaml", std::process::id()))
    });
    if std::fs::write(path, text).is_err() {
        return;
    }
    let registry = REGISTRY.get_or_init(Registry::builtin);
    let _ = crate::config::load_and_validate(std::slice::from_ref(path), &|_| None, registry);
}

/// The receiver's pre-decode pass on protobuf bytes, for `benches/otlp_prescan.rs`: with the
/// forwarding checks (`verify`) as on a passthrough path, or limits only. Returns the item
/// count and whether the bytes are forwardable.
pub fn prescan_protobuf(signal: Signal, bytes: &[u8], verify: bool) -> Option<(usize, bool)> {
    let limits = default_limits();
    let shape = if verify {
        prescan::prescan(signal, bytes, &limits)
    } else {
        prescan::prescan_limits(signal, bytes, &limits)
    };
    shape.ok().map(|shape| (shape.items, shape.forwardable))
}

/// The receiver's per-request limits with their defaults.
fn default_limits() -> prescan::Limits {
    crate::receivers::otlp::RequestLimits::default().prescan_limits()
}
