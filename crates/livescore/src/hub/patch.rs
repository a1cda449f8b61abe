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
//! keeps the page's order); otherwise the board goes out whole.
//!
//! A merge patch cannot set a value to `null`: its `null` removes the key.
//! In a board a missing key and `null` mean the same (a game's clock is
//! `null` at halftime; a detail it lacks is left out), so a value that
//! turns `null` is removed, and clients read a missing key as `null`.
//! Sending the whole board instead would cost every halftime and every
//! final a 5 KB board: 38 of the demo week's 319 changes, twice the bytes
//! of all its patches together.

use bytes::Bytes;
use serde_json::{Map, Value};

/// The merge patch from board `before` to board `after` (JSON arrays of
/// games, as published on `scores`), or `None` when the board must go
/// whole: either is not a list of games with an `eid`, or the games or
/// their order differ.
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
        if let Some(d) = diff_object(a, b) {
            patch.insert(eid.clone(), Value::Object(d));
        }
    }
    serde_json::to_vec(&Value::Object(patch))
        .ok()
        .map(Bytes::from)
}

/// The merge patch turning object `a` into `b` (`None`: they are equal),
/// where a key set to `null` and a missing key mean the same.
fn diff_object(a: &Map<String, Value>, b: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (k, va) in a {
        if !va.is_null() && b.get(k).is_none_or(Value::is_null) {
            out.insert(k.clone(), Value::Null);
        }
    }
    for (k, vb) in b {
        if vb.is_null() {
            continue;
        }
        match (a.get(k), vb) {
            (Some(va), _) if va == vb => {}
            (Some(Value::Object(oa)), Value::Object(ob)) => {
                if let Some(d) = diff_object(oa, ob) {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            // Set whole: a merge patch replaces a non-object (or an object
            // with a non-object) and merges an object into an empty one,
            // dropping only its nulls.
            _ => {
                out.insert(k.clone(), vb.clone());
            }
        }
    }
    (!out.is_empty()).then_some(out)
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
    fn no_patch_when_the_games_differ() {
        let a = json!([game("1", 0, json!("10:00"))]);
        let other = json!([game("2", 0, json!("10:00"))]);
        let more = json!([game("1", 0, json!("10:00")), game("2", 0, json!("10:00"))]);
        for b in [other, more] {
            assert_eq!(board_patch(&bytes(&a), &bytes(&b)), None, "{b}");
        }
        assert_eq!(board_patch(b"not json", &bytes(&a)), None);
        assert_eq!(board_patch(b"[1]", b"[1]"), None);
    }

    /// Nulls removed, recursively: how a client that reads a missing key
    /// as `null` sees a board.
    fn without_nulls(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn a_value_turning_null_is_removed_and_back_is_set() {
        let a = json!([game("1", 0, json!("10:00"))]);
        let nulled = json!([game("1", 0, Value::Null)]);
        let p = board_patch(&bytes(&a), &bytes(&nulled)).expect("a patch");
        assert_eq!(&p[..], br#"{"1":{"clock":null}}"#);
        let mut board = a.as_array().expect("array").clone();
        assert!(apply_to_board(
            &mut board,
            &serde_json::from_slice(&p).expect("json")
        ));
        assert_eq!(
            without_nulls(&Value::Array(board.clone())),
            without_nulls(&nulled)
        );
        // From null (or missing) to a value is a plain set.
        let p = board_patch(&bytes(&Value::Array(board)), &bytes(&a)).expect("a patch");
        assert_eq!(&p[..], br#"{"1":{"clock":"10:00"}}"#);
        let p = board_patch(&bytes(&nulled), &bytes(&a)).expect("a patch");
        assert_eq!(&p[..], br#"{"1":{"clock":"10:00"}}"#);
        // Null to missing is no change at all.
        let mut missing = game("1", 0, Value::Null);
        missing.as_object_mut().expect("object").remove("clock");
        assert_eq!(
            &board_patch(&bytes(&nulled), &bytes(&json!([missing]))).expect("patch")[..],
            b"{}"
        );
    }

    /// A game's home and away score, clock, possession and whether it has
    /// details, as generated.
    type Gen = (u8, u8, Option<String>, Option<String>, bool);

    proptest::proptest! {
        /// Whatever two boards of the same games, the patch applied to the
        /// first gives the second (nulls read as missing).
        #[test]
        fn a_patch_applied_gives_the_next_board(
            scores in proptest::collection::vec((0u8..60, 0u8..60, proptest::option::of("[0-9]{2}:[0-9]{2}"), proptest::option::of("[A-Z]{2,3}"), proptest::bool::ANY), 1..6),
            changes in proptest::collection::vec((0u8..60, 0u8..60, proptest::option::of("[0-9]{2}:[0-9]{2}"), proptest::option::of("[A-Z]{2,3}"), proptest::bool::ANY), 1..6),
        ) {
            let n = scores.len().min(changes.len());
            let board = |s: &[Gen]| {
                Value::Array(s[..n].iter().enumerate().map(|(i, (h, a, clock, ball, details))| {
                    let mut g = json!({"eid": i.to_string(), "clock": clock, "possession": ball,
                        "home": {"score": h}, "away": {"score": a}});
                    if *details {
                        g["details"] = json!({"venue": ball, "last_play": clock});
                    }
                    g
                }).collect())
            };
            let (a, b) = (board(&scores), board(&changes));
            let p = board_patch(&bytes(&a), &bytes(&b)).expect("same games");
            let mut applied = a.as_array().expect("array").clone();
            proptest::prop_assert!(apply_to_board(&mut applied, &serde_json::from_slice(&p).expect("json")));
            proptest::prop_assert_eq!(without_nulls(&Value::Array(applied)), without_nulls(&b));
        }
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
