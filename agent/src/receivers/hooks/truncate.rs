//! The payload size cap: the longest strings are cut first, until the JSON fits.
//!
//! Linear in the event's size: one walk measures the JSON and every string value, a sort
//! of the string lengths finds one length `L` that every longer string is cut to, one
//! walk cuts them, and one more walk checks the result. (The first version halved the
//! longest string and re-serialised the whole event after each cut: 5.8 s of CPU for a
//! 1 MB event.)

use std::io::Write;

use serde_json::Value;

/// Appended to every string that was cut.
pub const MARK: &str = "…[truncated]";
/// Strings are never cut shorter than this, so each keeps a recognisable start.
const KEEP: usize = 64;

/// Cuts `event` to at most `max_bytes` of JSON. Returns true when anything was cut.
/// Every string value longer than some length is cut to that length (longest first, so
/// short values stay whole); if that is not enough (many small values), the body
/// becomes the prefix of its JSON text as one string, keeping `hook_event_name`.
pub fn cap(event: &mut Value, max_bytes: usize) -> bool {
    let size = json_len(event);
    if size <= max_bytes {
        return false;
    }
    let mut lengths = Vec::new();
    string_lengths(event, &mut lengths);
    if let Some(limit) = cut_length(lengths, size - max_bytes) {
        cut_longer(event, limit);
        if json_len(event) <= max_bytes {
            return true;
        }
    }
    prefix_fallback(event, max_bytes);
    true
}

/// The JSON length of `value`, counted without building the text.
pub fn json_len(value: &Value) -> usize {
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The escaped (JSON) length of every string value that could be cut (object keys stay).
fn string_lengths(value: &Value, out: &mut Vec<usize>) {
    match value {
        Value::String(s) => {
            let len = escaped_len(s);
            if len > KEEP + MARK.len() {
                out.push(len);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| string_lengths(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_lengths(v, out)),
        _ => {}
    }
}

/// The length `L` (in escaped bytes, at least [`KEEP`]) such that cutting every string
/// longer than `L + MARK` to at most `L` (plus the mark) saves at least `excess` bytes.
/// `None` when even cutting every long string to [`KEEP`] would not save enough.
fn cut_length(mut lengths: Vec<usize>, excess: usize) -> Option<usize> {
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    let mark = MARK.len();
    let mut sum = 0usize;
    for (k, &len) in lengths.iter().enumerate() {
        sum += len;
        let count = k + 1;
        // Cutting the `count` longest to `L` saves `sum - count * (L + mark)`.
        let Some(room) = sum.checked_sub(count * mark + excess) else {
            continue;
        };
        let limit = room / count;
        let next = lengths.get(count).copied().unwrap_or(0);
        // Valid when the next string would not be cut at this limit anyway.
        // Taking in more strings only raises the limit, so keep going while it is
        // below `KEEP` or would leave a longer string uncut.
        if limit >= KEEP && next <= limit + mark {
            return Some(limit);
        }
    }
    None
}

/// Cuts every string value whose escaped length exceeds `limit + MARK` to an escaped
/// prefix of at most `limit` bytes, and marks it.
fn cut_longer(value: &mut Value, limit: usize) {
    match value {
        Value::String(s) if escaped_len(s) > limit + MARK.len() => {
            let cut = escaped_prefix(s, limit);
            s.truncate(cut);
            s.push_str(MARK);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| cut_longer(v, limit)),
        Value::Object(map) => map.values_mut().for_each(|v| cut_longer(v, limit)),
        _ => {}
    }
}

/// The body as the prefix of its JSON text, one string, `hook_event_name` kept.
fn prefix_fallback(event: &mut Value, max_bytes: usize) {
    let name = event.get("hook_event_name").cloned();
    let text = event.to_string();
    // Room for the name, the key and the escaping of the prefix (quotes become `\"`).
    let keep = escaped_prefix(&text, max_bytes.saturating_sub(256));
    let mut replacement = serde_json::Map::new();
    if let Some(name) = name {
        replacement.insert("hook_event_name".to_string(), name);
    }
    replacement.insert(
        "truncated_payload".to_string(),
        Value::String(format!("{}{MARK}", &text[..keep])),
    );
    *event = Value::Object(replacement);
}

/// Bytes `c` takes inside a JSON string (serde_json's escaping).
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes `s` takes inside a JSON string, quotes excluded.
pub fn escaped_len(s: &str) -> usize {
    // Plain ASCII text (most of it) needs no per-char work.
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x80)
    {
        return s.len();
    }
    s.chars().map(escaped_char_len).sum()
}

/// The byte length of the longest prefix of `s` (on a char boundary) whose escaped
/// length is at most `limit`.
fn escaped_prefix(s: &str, limit: usize) -> usize {
    let mut escaped = 0;
    for (at, c) in s.char_indices() {
        escaped += escaped_char_len(c);
        if escaped > limit {
            return at;
        }
    }
    s.len()
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
        let size = event.to_string().len();
        assert!(size <= 4096, "{size}");
        // Not cut more than needed: the cap is nearly used.
        assert!(size > 4096 - 200, "{size}");
        assert_eq!(event["tool_name"], "Bash");
        let stdout = event["tool_response"]["stdout"].as_str().unwrap();
        assert!(stdout.ends_with(MARK));
        assert!(stdout.starts_with("éé"));
    }

    #[test]
    fn short_strings_stay_whole_while_long_ones_are_cut() {
        let mut event = json!({
            "hook_event_name": "PostToolUse",
            "a": "a".repeat(300),
            "b": "b".repeat(20_000),
            "c": "c".repeat(10_000),
        });
        assert!(cap(&mut event, 4000));
        assert!(event.to_string().len() <= 4000);
        assert_eq!(event["a"], "a".repeat(300));
        let (b, c) = (event["b"].as_str().unwrap(), event["c"].as_str().unwrap());
        assert!(b.ends_with(MARK) && c.ends_with(MARK));
        // Both cut to the same length.
        assert_eq!(b.len(), c.len());
    }

    #[test]
    fn escaped_characters_are_counted_as_written() {
        let mut event = json!({
            "hook_event_name": "PostToolUse",
            "quotes": "\"\\\n\u{1}".repeat(5_000),
            "plain": "p".repeat(5_000),
        });
        assert!(cap(&mut event, 3000));
        let size = event.to_string().len();
        assert!(size <= 3000, "{size}");
    }

    #[test]
    fn many_small_values_fall_back_to_a_prefix() {
        let items: Vec<Value> = (0..5_000).map(|i| json!(i)).collect();
        let mut event = json!({"hook_event_name": "Stop", "items": items});
        assert!(cap(&mut event, 2048));
        assert!(event.to_string().len() <= 2048);
        assert_eq!(event["hook_event_name"], "Stop");
    }

    #[test]
    fn the_fallback_fits_even_when_the_text_is_all_escapes() {
        let items: Vec<Value> = (0..5_000).map(|_| json!("\"")).collect();
        let mut event = json!({"hook_event_name": "Stop", "items": items});
        assert!(cap(&mut event, 2048));
        assert!(event.to_string().len() <= 2048);
    }

    #[test]
    fn ten_thousand_long_strings_are_cut_in_one_pass() {
        let items: Vec<Value> = (0..10_000).map(|i| json!(format!("{i:0>200}"))).collect();
        let mut event = json!({"hook_event_name": "Stop", "items": items});
        assert!(cap(&mut event, 1_000_000));
        let size = event.to_string().len();
        assert!(size <= 1_000_000, "{size}");
        assert!(event["items"][9_999].as_str().unwrap().ends_with(MARK));
    }
}
