//! The board's change as an RFC 7396 merge patch, made once per `update`.
//!
//! Why: an `update` on `scores` is the whole board (16 games, ~5 KB) while
//! a score change touches one game's score, clock and possession (~100
//! bytes). A stream that asked for deltas (`?delta=true`) is sent this
//! patch instead of the board whenever the client holds exactly the board
//! it applies to (`sse::SseBody` tracks that); otherwise the board, so a
//! client can never be left with a stale or half-applied one.
//!
//! The patched document is the board as an object keyed by `eid`, which
//! keeps each game's identity stable across updates. A patch is only made
//! when both boards hold the same games in the same order (so applying it
//! keeps the page's order) and when no value turns `null` (a merge patch's
//! `null` deletes, which would leave the key missing where the board has
//! `null`): otherwise there is no patch and the board goes out whole.

use bytes::Bytes;
use serde_json::{Map, Value};

/// The merge patch from board `before` to board `after` (JSON arrays of
/// games, as published on `scores`), or `None` when the board must go
/// whole: either is not a list of games with an `eid`, the games or their
/// order differ, or a value would have to become `null`.
pub fn board_patch(before: &[u8], after: &[u8]) -> Option<Bytes> {
    let before: Vec<Map<String, Value>> = serde_json::from_slice(before).ok()?;
    let after: Vec<Map<String, Value>> = serde_json::from_slice(after).ok()?;
    if before.len() != after.len() {
        return None;
    }
    let mut patch = Map::new();
    for (a, b) in before.iter().zip(&after) {
        let eid = match (a.get("eid"), b.get("eid")) {
            (Some(Value::String(x)), Some(Value::String(y))) if x == y => x,
            _ => return None,
        };
        if let Some(d) = diff_object(a, b)? {
            patch.insert(eid.clone(), Value::Object(d));
        }
    }
    serde_json::to_vec(&Value::Object(patch))
        .ok()
        .map(Bytes::from)
}

/// The merge patch turning object `a` into `b`; `Some(None)` when they are
/// equal, `None` when it cannot be expressed (a value becomes `null`).
fn diff_object(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> Option<Option<Map<String, Value>>> {
    let mut out = Map::new();
    for k in a.keys() {
        if !b.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    for (k, vb) in b {
        match a.get(k) {
            Some(va) if va == vb => {}
            Some(Value::Object(oa)) => match vb {
                Value::Object(ob) => {
                    if let Some(d) = diff_object(oa, ob)? {
                        out.insert(k.clone(), Value::Object(d));
                    }
                }
                Value::Null => return None,
                other => {
                    out.insert(k.clone(), other.clone());
                }
            },
            // A patch whose value is an object merges into the target's
            // object; set as a whole, it must not merge into a non-object,
            // and RFC 7396 replaces a non-object target with it. Its nulls
            // would be dropped by that merge, though.
            _ if vb.is_null() || has_null(vb) => return None,
            _ => {
                out.insert(k.clone(), vb.clone());
            }
        }
    }
    Some((!out.is_empty()).then_some(out))
}

/// Whether an object value holds a `null` anywhere (applying it as a merge
/// patch would drop that key).
fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_null),
        _ => false,
    }
}

/// Applies an RFC 7396 merge patch to `target` (section 2's algorithm);
/// what a client does with a `patch` event, for the tests and for `watch`.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Applies a board patch (keyed by `eid`) to a board (a list of games);
/// false when the patch names a game the board lacks.
pub fn apply_to_board(board: &mut [Value], patch: &Value) -> bool {
    let Value::Object(p) = patch else {
        return false;
    };
    for (eid, change) in p {
        let Some(game) = board
            .iter_mut()
            .find(|g| g.get("eid").and_then(Value::as_str) == Some(eid.as_str()))
        else {
            return false;
        };
        merge(game, change);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("json")
    }

    fn game(eid: &str, home: i64, clock: Value) -> Value {
        json!({"eid": eid, "state": "in_progress", "clock": clock,
               "home": {"abbr": "NE", "score": home}, "away": {"abbr": "PIT", "score": 0}})
    }

    #[test]
    fn a_score_change_is_the_changed_fields_of_that_game_only() {
        let a = json!([game("1", 0, json!("10:00")), game("2", 3, json!("01:00"))]);
        let b = json!([game("1", 7, json!("05:11")), game("2", 3, json!("01:00"))]);
        let p = board_patch(&bytes(&a), &bytes(&b)).expect("a patch");
        let p: Value = serde_json::from_slice(&p).expect("json");
        assert_eq!(p, json!({"1": {"clock": "05:11", "home": {"score": 7}}}));
        let mut board = a.as_array().expect("array").clone();
        assert!(apply_to_board(&mut board, &p));
        assert_eq!(Value::Array(board), b);
    }

    #[test]
    fn no_patch_when_the_games_differ_or_a_value_becomes_null() {
        let a = json!([game("1", 0, json!("10:00"))]);
        let other = json!([game("2", 0, json!("10:00"))]);
        let more = json!([game("1", 0, json!("10:00")), game("2", 0, json!("10:00"))]);
        let nulled = json!([game("1", 0, Value::Null)]);
        for b in [other, more, nulled] {
            assert_eq!(board_patch(&bytes(&a), &bytes(&b)), None, "{b}");
        }
        // From null to a value is fine.
        let p = board_patch(&bytes(&nulled_board()), &bytes(&a)).expect("a patch");
        assert_eq!(&p[..], br#"{"1":{"clock":"10:00"}}"#);
        assert_eq!(board_patch(b"not json", &bytes(&a)), None);
        assert_eq!(board_patch(b"[1]", b"[1]"), None);
    }

    fn nulled_board() -> Value {
        json!([game("1", 0, Value::Null)])
    }

    #[test]
    fn an_unchanged_board_is_an_empty_patch_and_a_removed_key_is_null() {
        let a = json!([game("1", 0, json!("10:00"))]);
        assert_eq!(
            &board_patch(&bytes(&a), &bytes(&a)).expect("patch")[..],
            b"{}"
        );
        let mut with_extra = game("1", 0, json!("10:00"));
        with_extra["details"] = json!({"venue": "Gillette"});
        let p = board_patch(&bytes(&json!([with_extra])), &bytes(&a)).expect("patch");
        assert_eq!(&p[..], br#"{"1":{"details":null}}"#);
    }

    #[test]
    fn merge_follows_rfc_7396_appendix_a() {
        // A selection of RFC 7396's own examples.
        for (target, patch, want) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ] {
            let mut t = target.clone();
            merge(&mut t, &patch);
            assert_eq!(t, want, "{target} + {patch}");
        }
    }
}
