//! Property tests of the `/ws` request decoder ([`parse`]) and the
//! control replies: no input makes it panic (arbitrary text, arbitrary
//! bytes as a client could send them, arbitrary JSON of any depth and
//! shape), every valid request decodes to what was sent, unknown fields
//! included, and every reply is JSON that carries its text exactly.
//!
//! Proptest rather than `cargo fuzz`: the build machines have only a
//! stable toolchain and cargo-fuzz needs nightly. These run with
//! `cargo test` in `.ci/run`, a few hundred cases each.

use crate::http::ws::wire::Message;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{error, parse, subscribed, Request};

/// Any JSON value, nested a few levels, with keys that sometimes are the
/// ones the decoder looks at.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
        prop_oneof![
            Just("subscribe"),
            Just("unsubscribe"),
            Just("chat"),
            Just("scores")
        ]
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("type".to_string()),
        Just("topics".to_string()),
        Just("last_event_id".to_string()),
        Just("eid".to_string()),
        Just("name".to_string()),
        Just("text".to_string()),
        any::<String>(),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid request and the JSON a client would send for it, sometimes
/// with fields of the client's own (which the server ignores).
fn valid_request() -> impl Strategy<Value = (Request, Value)> {
    let topics = prop::collection::vec(any::<String>(), 0..5);
    let extra = prop::option::of(any::<String>());
    let request = prop_oneof![
        (topics.clone(), prop::option::of(any::<String>())).prop_map(|(topics, last)| {
            let mut v = json!({"type": "subscribe", "topics": topics});
            if let Some(id) = &last {
                v["last_event_id"] = json!(id);
            }
            (
                Request::Subscribe {
                    topics,
                    last_event_id: last,
                },
                v,
            )
        }),
        topics.prop_map(|topics| {
            let v = json!({"type": "unsubscribe", "topics": topics});
            (Request::Unsubscribe { topics }, v)
        }),
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            proptest::option::of("[!-~]{1,128}")
        )
            .prop_map(|(eid, name, text, key)| {
                let mut v = json!({"type": "chat", "eid": eid, "name": name, "text": text});
                if let Some(k) = &key {
                    v["idempotency_key"] = json!(k);
                }
                (
                    Request::Chat {
                        eid,
                        name,
                        text,
                        idempotency_key: key,
                    },
                    v,
                )
            }),
    ];
    (request, extra).prop_map(|((req, mut v), extra)| {
        if let Some(x) = extra {
            v["ref"] = json!(x);
        }
        (req, v)
    })
}

fn text_of(msg: Message) -> String {
    match msg {
        Message::Text(t) => String::from_utf8(t.to_vec()).expect("replies are UTF-8"),
        other => panic!("a reply is a text message, got {other:?}"),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(300)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // A text frame is UTF-8 (axum checks); whatever bytes a client
        // meant, this is what reaches the decoder.
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_json_never_panics_and_only_known_types_pass(v in any_json()) {
        let known = v
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| ["subscribe", "unsubscribe", "chat"].contains(&t));
        match parse(&v.to_string()) {
            Ok(_) => prop_assert!(known, "accepted {v}"),
            // Every rejection explains itself, and the explanation fits in
            // an error reply.
            Err(e) => {
                let reply: Value = serde_json::from_str(&text_of(error(&e.to_string())))
                    .expect("the error reply is JSON");
                prop_assert_eq!(&reply["type"], "error");
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn valid_requests_round_trip((req, v) in valid_request()) {
        let got = parse(&v.to_string()).expect("valid request");
        // Pretty-printed JSON is the same request.
        let pretty = serde_json::to_string_pretty(&v).expect("json");
        prop_assert_eq!(&parse(&pretty).expect("valid request"), &got);
        prop_assert_eq!(got, req);
    }

    #[test]
    fn a_valid_request_with_one_field_of_the_wrong_type_is_rejected(
        (_, mut v) in valid_request(), pick in any::<prop::sample::Index>(), bad in any::<i64>(),
    ) {
        let fields: Vec<String> = v
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| *k != "ref" && *k != "last_event_id")
            .cloned()
            .collect();
        let field = pick.get(&fields).clone();
        v[&field] = json!(bad);
        prop_assert!(parse(&v.to_string()).is_err(), "accepted {}", v);
    }

    #[test]
    fn replies_carry_any_text_exactly(
        message in any::<String>(), topics in prop::collection::vec(any::<String>(), 0..5),
    ) {
        let v: Value = serde_json::from_str(&text_of(error(&message))).expect("json");
        prop_assert_eq!(v, json!({"type": "error", "message": message}));
        let v: Value = serde_json::from_str(&text_of(subscribed(&topics))).expect("json");
        prop_assert_eq!(v, json!({"type": "subscribed", "topics": topics}));
    }
}
