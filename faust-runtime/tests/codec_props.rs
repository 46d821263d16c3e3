//! Property tests: every codec and chain gives back what it was given, and no input bytes make
//! any of them panic.

use faust_runtime::codec::Serializer;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Line {
    sku: String,
    price: f64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Status {
    Open,
    Paid { at: i64 },
    Cancelled(String),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u64,
    customer: String,
    delta: i64,
    paid: bool,
    note: Option<String>,
    lines: Vec<Line>,
    tags: BTreeMap<String, i32>,
    status: Status,
    pair: (u8, String),
}

/// Floats that print and parse back exactly.
fn float() -> impl Strategy<Value = f64> {
    any::<i32>().prop_map(|i| f64::from(i) / 1024.0)
}

fn line() -> impl Strategy<Value = Line> {
    (".{0,12}", float()).prop_map(|(sku, price)| Line { sku, price })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Open),
        any::<i64>().prop_map(|at| Status::Paid { at }),
        ".{0,8}".prop_map(Status::Cancelled),
    ]
}

fn order() -> impl Strategy<Value = Order> {
    (
        any::<u64>(),
        any::<String>(),
        any::<i64>(),
        any::<bool>(),
        proptest::option::of(".{0,16}"),
        vec(line(), 0..4),
        btree_map(".{0,6}", any::<i32>(), 0..4),
        status(),
        (any::<u8>(), ".{0,4}"),
    )
        .prop_map(
            |(id, customer, delta, paid, note, lines, tags, status, pair)| Order {
                id,
                customer,
                delta,
                paid,
                note,
                lines,
                tags,
                status,
                pair,
            },
        )
}

const STRUCTURED: &[&str] = &[
    "json",
    "json:stdlib",
    "json:orjson",
    "json|binary",
    "json:orjson|binary",
    "json|binary|binary",
    "msgpack",
    "msgpack|binary",
];

const TEXT: &[&str] = &[
    "raw",
    "binary",
    "raw|binary",
    "json",
    "json:stdlib",
    "json:orjson",
    "json|binary",
    "msgpack",
];

const ALL: &[&str] = &[
    "json",
    "json:stdlib",
    "json:orjson",
    "raw",
    "binary",
    "msgpack",
    "json|binary",
    "raw|binary",
    "msgpack|binary",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn structured_values_round_trip(o in order()) {
        for name in STRUCTURED {
            let s = Serializer::resolve(name).unwrap();
            let bytes = s.dumps(&o).unwrap();
            prop_assert_eq!(&s.loads::<Order>(&bytes).unwrap(), &o, "{}", name);
        }
    }

    #[test]
    fn strings_round_trip(text in any::<String>()) {
        for name in TEXT {
            let s = Serializer::resolve(name).unwrap();
            let bytes = s.dumps(&text).unwrap();
            prop_assert_eq!(&s.loads::<String>(&bytes).unwrap(), &text, "{}", name);
        }
        // raw is the UTF-8 bytes themselves.
        prop_assert_eq!(Serializer::resolve("raw").unwrap().dumps(&text).unwrap(), text.as_bytes());
    }

    #[test]
    fn bytes_round_trip(data in vec(any::<u8>(), 0..512)) {
        for name in ["raw", "binary", "raw|binary", "json", "msgpack", "msgpack|binary"] {
            let s = Serializer::resolve(name).unwrap();
            let bytes = s.dumps(&data).unwrap();
            prop_assert_eq!(&s.loads::<Vec<u8>>(&bytes).unwrap(), &data, "{}", name);
        }
        prop_assert_eq!(Serializer::resolve("raw").unwrap().dumps(&data).unwrap(), data.clone());
    }

    #[test]
    fn any_bytes_decode_without_panicking(data in vec(any::<u8>(), 0..256)) {
        for name in ALL {
            let s = Serializer::resolve(name).unwrap();
            let _ = s.loads::<Order>(&data);
            let _ = s.loads::<String>(&data);
            let _ = s.loads::<Vec<u8>>(&data);
            let _ = s.loads::<serde_json::Value>(&data);
            let _ = s.loads::<Option<u64>>(&data);
        }
    }

    #[test]
    fn corrupted_values_are_errors_or_values_never_panics(o in order(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
        for name in STRUCTURED {
            let s = Serializer::resolve(name).unwrap();
            let mut bytes = s.dumps(&o).unwrap();
            let i = cut.index(bytes.len());
            // Truncated: never a panic, and for JSON always an error.
            let truncated = s.loads::<Order>(&bytes[..i]);
            if name.starts_with("json") {
                prop_assert!(truncated.is_err(), "{} decoded a truncated value", name);
            }
            bytes[i] ^= flip;
            let _ = s.loads::<Order>(&bytes);
        }
    }
}
