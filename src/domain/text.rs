//! What text the stores can hold.
//!
//! PostgreSQL's `text` and `jsonb` cannot hold U+0000 (SQLite can), so a NUL character in a
//! name, a message or a note would be stored on one backend and fail on the other. Both
//! answer the same instead: the input is refused at the edge (HTTP body, query, WebSocket
//! frame), naming the field, before anything reaches an actor or a store.

use serde_json::Value;

/// Whether raw JSON may hold an escaped NUL (`\u0000`). JSON cannot carry a raw NUL byte in a
/// string (control characters must be escaped), so a text without this sequence holds none;
/// one with it (or with `\\u0000`, an escaped backslash) is checked exactly by [`nul_field`].
#[must_use]
pub fn may_hold_nul(raw: &[u8]) -> bool {
    raw.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

/// The path of the first string (or object key) in `v` holding U+0000, e.g. `guest.name` or
/// `rooms[2].number`; `None` when there is none.
#[must_use]
pub fn nul_field(v: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut String) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.replace('\0', "\\u0000"));
                let found = k.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(v, &mut path).then(|| {
        if path.is_empty() {
            "(the value)".into()
        } else {
            path
        }
    })
}

/// The error message for a NUL in `field`.
#[must_use]
pub fn nul_message(field: &str) -> String {
    format!("{field}: text may not contain the NUL character (U+0000)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_nul_is_named_by_its_path() {
        assert_eq!(nul_field(&json!({"name": "Ada"})), None);
        assert_eq!(
            nul_field(&json!({"guest": {"name": "A\u{0}da"}})).as_deref(),
            Some("guest.name")
        );
        assert_eq!(
            nul_field(&json!({"rooms": [{"number": "1"}, {"number": "\u{0}"}]})).as_deref(),
            Some("rooms[1].number")
        );
        assert_eq!(
            nul_field(&json!({"k\u{0}": 1})).as_deref(),
            Some("k\\u0000")
        );
        assert_eq!(nul_field(&json!("\u{0}")).as_deref(), Some("(the value)"));
    }

    #[test]
    fn the_quick_check_finds_every_escaped_nul() {
        assert!(may_hold_nul(br#"{"a":"x\u0000"}"#));
        assert!(may_hold_nul(br#"{"a":"x\U0000"}"#));
        assert!(!may_hold_nul(br#"{"a":"x\u0001"}"#));
        // An escaped backslash before u0000 is not a NUL, which the exact check sees.
        let v: Value = serde_json::from_str(r#"{"a":"\\u0000"}"#).unwrap();
        assert!(may_hold_nul(br#"{"a":"\\u0000"}"#));
        assert_eq!(nul_field(&v), None);
    }
}
