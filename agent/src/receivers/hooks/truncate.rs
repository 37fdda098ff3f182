//! The payload size cap: the longest strings are cut first, until the JSON fits.

use serde_json::Value;

/// Appended to every string that was cut.
const MARK: &str = "…[truncated]";
/// Strings are never cut shorter than this, so each keeps a recognisable start.
const KEEP: usize = 64;

/// Cuts `event` to at most `max_bytes` of JSON. Returns true when anything was cut.
/// Strings are halved, longest first; if that is not enough (many small values), the
/// body becomes the prefix of its JSON text as one string, keeping `hook_event_name`.
pub fn cap(event: &mut Value, max_bytes: usize) -> bool {
    let mut size = json_len(event);
    if size <= max_bytes {
        return false;
    }
    // Bounded: each round halves the longest string, so it ends after O(n log len).
    for _ in 0..10_000 {
        let Some(longest) = longest_string(event) else {
            break;
        };
        let len = longest.len();
        if len <= KEEP + MARK.len() {
            break;
        }
        let excess = size - max_bytes;
        let target = len
            .saturating_sub(excess + MARK.len())
            .max(KEEP)
            .min(len / 2);
        let cut = floor_char_boundary(longest, target);
        longest.truncate(cut);
        longest.push_str(MARK);
        size = json_len(event);
        if size <= max_bytes {
            return true;
        }
    }
    let name = event.get("hook_event_name").cloned();
    let text = event.to_string();
    let keep = floor_char_boundary(&text, max_bytes.saturating_sub(256));
    let mut replacement = serde_json::Map::new();
    if let Some(name) = name {
        replacement.insert("hook_event_name".to_string(), name);
    }
    replacement.insert(
        "truncated_payload".to_string(),
        Value::String(format!("{}{MARK}", &text[..keep])),
    );
    *event = Value::Object(replacement);
    true
}

fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

fn longest_string(value: &mut Value) -> Option<&mut String> {
    match value {
        Value::String(s) => Some(s),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(longest_string)
            .max_by_key(|s| s.len()),
        Value::Object(map) => map
            .values_mut()
            .filter_map(longest_string)
            .max_by_key(|s| s.len()),
        _ => None,
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_events_are_untouched() {
        let mut event = json!({"hook_event_name": "Stop", "x": "short"});
        let before = event.clone();
        assert!(!cap(&mut event, 1024));
        assert_eq!(event, before);
    }

    #[test]
    fn long_strings_are_cut_to_fit() {
        let mut event = json!({
            "hook_event_name": "PostToolUse",
            "tool_response": {"stdout": "é".repeat(40_000), "stderr": "x".repeat(5_000)},
            "tool_name": "Bash"
        });
        assert!(cap(&mut event, 4096));
        assert!(event.to_string().len() <= 4096);
        assert_eq!(event["tool_name"], "Bash");
        assert!(event["tool_response"]["stdout"]
            .as_str()
            .unwrap()
            .ends_with(MARK));
    }

    #[test]
    fn many_small_values_fall_back_to_a_prefix() {
        let items: Vec<Value> = (0..5_000).map(|i| json!(i)).collect();
        let mut event = json!({"hook_event_name": "Stop", "items": items});
        assert!(cap(&mut event, 2048));
        assert!(event.to_string().len() <= 2048);
        assert_eq!(event["hook_event_name"], "Stop");
    }
}
