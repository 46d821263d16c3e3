//! Faust records: `#[record]` structs against the bytes Faust writes, field encodings, codecs,
//! and records travelling through a topic.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use faust_runtime::codec::Serializer;
use faust_runtime::prelude::*;
use faust_runtime::Record as _;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;
use uuid::Uuid;

/// `class Order(faust.Record, namespace="app.Order"): id: int; product: str; quantity: int`
#[record(namespace = "app.Order")]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub product: String,
    pub quantity: u32,
}

const FAUST_ORDER: &str =
    r#"{"id":10,"product":"apple","quantity":7,"__faust":{"ns":"app.Order"}}"#;

fn order() -> Order {
    Order {
        id: 10,
        product: "apple".into(),
        quantity: 7,
    }
}

#[test]
fn encodes_exactly_as_faust() {
    assert_eq!(serde_json::to_string(&order()).unwrap(), FAUST_ORDER);
    assert_eq!(
        Serializer::resolve("json")
            .unwrap()
            .dumps(&order())
            .unwrap(),
        FAUST_ORDER.as_bytes()
    );
    assert_eq!(Order::namespace(), "app.Order");
    assert!(Order::include_metadata());
}

#[test]
fn decodes_with_or_without_metadata() {
    assert_eq!(serde_json::from_str::<Order>(FAUST_ORDER).unwrap(), order());
    let plain = r#"{"id":10,"product":"apple","quantity":7}"#;
    assert_eq!(serde_json::from_str::<Order>(plain).unwrap(), order());
    // Metadata first, other namespaces, extra metadata keys: all ignored.
    let other = r#"{"__faust":{"ns":"other.Thing","x":[1,{"y":null}]},"quantity":7,"product":"apple","id":10}"#;
    assert_eq!(serde_json::from_str::<Order>(other).unwrap(), order());
    // Missing fields are still errors.
    let err =
        serde_json::from_str::<Order>(r#"{"id":10,"__faust":{"ns":"app.Order"}}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `product`"), "{err}");
}

/// `class Shipment(Record, namespace="app.Shipment"): order: Order; lines: List[Order]; note: Optional[str]`
#[record(namespace = "app.Shipment")]
#[derive(Clone, Debug, PartialEq)]
pub struct Shipment {
    pub order: Order,
    pub lines: Vec<Order>,
    pub note: Option<String>,
}

#[test]
fn nested_records_carry_their_own_metadata() {
    let faust = concat!(
        r#"{"order":{"id":10,"product":"apple","quantity":7,"__faust":{"ns":"app.Order"}},"#,
        r#""lines":[{"id":11,"product":"pear","quantity":1,"__faust":{"ns":"app.Order"}}],"#,
        r#""note":null,"__faust":{"ns":"app.Shipment"}}"#
    );
    let s = Shipment {
        order: order(),
        lines: vec![Order {
            id: 11,
            product: "pear".into(),
            quantity: 1,
        }],
        note: None,
    };
    assert_eq!(serde_json::to_string(&s).unwrap(), faust);
    assert_eq!(serde_json::from_str::<Shipment>(faust).unwrap(), s);
    // Without any metadata.
    let plain = r#"{"order":{"id":10,"product":"apple","quantity":7},"lines":[{"id":11,"product":"pear","quantity":1}],"note":null}"#;
    assert_eq!(serde_json::from_str::<Shipment>(plain).unwrap(), s);
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Paid,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Priority {
    Low = 1,
    High = 2,
}

impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        p as i64
    }
}

impl TryFrom<i64> for Priority {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match n {
            1 => Ok(Priority::Low),
            2 => Ok(Priority::High),
            _ => Err(format!("no priority {n}")),
        }
    }
}

/// Every Python type Faust encodes in its own way (the bytes below are what faust-streaming
/// 0.15.3 writes for this record with the stdlib `json`).
#[record(namespace = "app.Payment")]
#[derive(Clone, Debug, PartialEq)]
pub struct Payment {
    pub id: Uuid,
    pub amount: Decimal,
    #[serde(with = "faust_runtime::record::datetime")]
    pub at: DateTime<Utc>,
    #[serde(with = "faust_runtime::record::datetime::option")]
    pub settled: Option<DateTime<Utc>>,
    #[serde(with = "faust_runtime::record::date")]
    pub day: NaiveDate,
    pub tags: BTreeSet<String>,
    pub point: (i32, i32),
    pub status: Status,
    #[serde(with = "faust_runtime::record::int_enum")]
    pub priority: Priority,
    #[serde(with = "faust_runtime::record::bytes_str")]
    pub memo: Vec<u8>,
}

fn payment() -> Payment {
    Payment {
        id: Uuid::from_str("6f1c1a52-2f0e-4d6b-9a43-2b1d1c3e4f50").unwrap(),
        amount: Decimal::from_str("12.50").unwrap(),
        at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456),
        settled: None,
        day: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        tags: BTreeSet::from(["a".to_string(), "b".to_string()]),
        point: (1, -2),
        status: Status::Paid,
        priority: Priority::High,
        memo: b"hello".to_vec(),
    }
}

const FAUST_PAYMENT: &str = concat!(
    r#"{"id":"6f1c1a52-2f0e-4d6b-9a43-2b1d1c3e4f50","amount":"12.50","#,
    r#""at":"2024-01-02T03:04:05.123456Z","settled":null,"day":"2024-01-02T00:00:00","#,
    r#""tags":["a","b"],"point":[1,-2],"status":"paid","priority":2,"memo":"b'hello'","#,
    r#""__faust":{"ns":"app.Payment"}}"#
);

#[test]
fn faust_encodings_of_python_types() {
    assert_eq!(serde_json::to_string(&payment()).unwrap(), FAUST_PAYMENT);
    assert_eq!(
        serde_json::from_str::<Payment>(FAUST_PAYMENT).unwrap(),
        payment()
    );
}

#[test]
fn datetimes_read_any_offset_and_naive_times() {
    let with = |at: &str| FAUST_PAYMENT.replace("2024-01-02T03:04:05.123456Z", at);
    for at in [
        "2024-01-02T03:04:05.123456+00:00",
        "2024-01-02T04:04:05.123456+01:00",
        "2024-01-02 03:04:05.123456",
        "2024-01-02T03:04:05.123456",
        "2024-01-02T03:04:05.123456000Z",
    ] {
        let p: Payment = serde_json::from_str(&with(at)).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(p.at, payment().at, "{at}");
    }
    // Whole seconds are written without a fraction, like Python's isoformat.
    let mut p = payment();
    p.at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    p.settled = Some(p.at);
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        json.contains(r#""at":"2024-01-02T03:04:05Z","settled":"2024-01-02T03:04:05Z""#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Payment>(&json).unwrap(), p);
    assert!(serde_json::from_str::<Payment>(&with("yesterday")).is_err());
    // Why the helper: chrono's own form drops trailing zeros of the fraction, Python does not.
    let ms = Utc.timestamp_millis_opt(1_500).unwrap();
    assert_eq!(
        serde_json::to_string(&ms).unwrap(),
        r#""1970-01-01T00:00:01.500Z""#
    );
    assert_eq!(
        faust_runtime::record::datetime::format(&ms),
        "1970-01-01T00:00:01.500000Z"
    );
}

#[test]
fn helper_errors_are_errors() {
    // Any bytes are fine: Python's repr escapes what is not printable ASCII.
    let mut p = payment();
    p.memo = vec![0xff, 0xfe, b'\'', b'\\'];
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains(r#""memo":"b\"\\xff\\xfe'\\\\\"""#), "{json}");
    assert_eq!(serde_json::from_str::<Payment>(&json).unwrap(), p);
    let bad = FAUST_PAYMENT.replace(r#""priority":2"#, r#""priority":9"#);
    let err = serde_json::from_str::<Payment>(&bad).unwrap_err();
    assert!(err.to_string().contains("no priority 9"), "{err}");
    // bytes_str reads a list of numbers and plain text too.
    let list = FAUST_PAYMENT.replace(r#""memo":"b'hello'""#, r#""memo":[104,105]"#);
    assert_eq!(serde_json::from_str::<Payment>(&list).unwrap().memo, b"hi");
    let text = FAUST_PAYMENT.replace(r#""memo":"b'hello'""#, r#""memo":"h\u00e9""#);
    assert_eq!(
        serde_json::from_str::<Payment>(&text).unwrap().memo,
        "hé".as_bytes()
    );
    let bad = FAUST_PAYMENT.replace("2024-01-02T00:00:00", "2024-13-02");
    let err = serde_json::from_str::<Payment>(&bad).unwrap_err();
    assert!(err.to_string().contains("not an ISO-8601 date"), "{err}");
}

/// serde attributes work as with serde's derive.
#[record(namespace = "app.Customer")]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Customer {
    #[serde(rename = "customerId")]
    pub id: u64,
    pub full_name: String,
    #[serde(default)]
    pub vip: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip)]
    pub cache: u32,
    pub labels: HashSet<String>,
}

#[test]
fn serde_attributes_are_respected() {
    let c = Customer {
        id: 3,
        full_name: "Ada".into(),
        vip: false,
        email: None,
        cache: 99,
        labels: HashSet::from(["x".to_string()]),
    };
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"customerId":3,"fullName":"Ada","vip":false,"labels":["x"],"__faust":{"ns":"app.Customer"}}"#
    );
    let back: Customer = serde_json::from_str(
        r#"{"customerId":3,"fullName":"Ada","labels":["x"],"__faust":{"ns":"app.Customer"}}"#,
    )
    .unwrap();
    assert_eq!(back, Customer { cache: 0, ..c });
    // deny_unknown_fields still accepts the metadata, and still refuses anything else.
    let err = serde_json::from_str::<Customer>(
        r#"{"customerId":3,"fullName":"Ada","labels":[],"age":5}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `age`"), "{err}");
}

/// A record with a flattened map of everything else.
#[record(namespace = "app.Event")]
#[derive(Clone, Debug, PartialEq)]
pub struct Click {
    pub kind: String,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

#[test]
fn flattened_fields_never_see_the_metadata() {
    let faust = r#"{"kind":"click","x":1,"y":"two","__faust":{"ns":"app.Event"}}"#;
    let e: Click = serde_json::from_str(faust).unwrap();
    assert_eq!(e.kind, "click");
    assert_eq!(e.rest.len(), 2, "{:?}", e.rest);
    assert_eq!(serde_json::to_string(&e).unwrap(), faust);
}

mod defaults {
    use faust_runtime::prelude::*;

    /// No namespace given: Faust's `module.ClassName`, from the Rust module path.
    #[record]
    #[derive(Clone, Debug, PartialEq)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    /// No metadata at all.
    #[record(include_metadata = false)]
    #[derive(Clone, Debug, PartialEq)]
    pub struct Bare {
        pub x: i32,
    }

    /// Generic records work too.
    #[record(namespace = "app.Pair")]
    #[derive(Clone, Debug, PartialEq)]
    pub struct Pair<T> {
        pub left: T,
        pub right: T,
    }
}

#[test]
fn default_namespace_and_no_metadata() {
    use defaults::{Bare, Pair, Point};
    assert_eq!(Point::namespace(), "records.defaults.Point");
    assert_eq!(
        serde_json::to_string(&Point { x: 1, y: 2 }).unwrap(),
        r#"{"x":1,"y":2,"__faust":{"ns":"records.defaults.Point"}}"#
    );
    assert_eq!(serde_json::to_string(&Bare { x: 1 }).unwrap(), r#"{"x":1}"#);
    assert_eq!(
        serde_json::from_str::<Bare>(r#"{"x":1,"__faust":{"ns":"a.Bare"}}"#).unwrap(),
        Bare { x: 1 }
    );
    let p = Pair {
        left: order(),
        right: order(),
    };
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(
        json,
        format!(r#"{{"left":{FAUST_ORDER},"right":{FAUST_ORDER},"__faust":{{"ns":"app.Pair"}}}}"#)
    );
    assert_eq!(serde_json::from_str::<Pair<Order>>(&json).unwrap(), p);
}

#[test]
fn records_through_every_codec() {
    for name in ["json", "json|binary", "msgpack", "msgpack|binary"] {
        let s = Serializer::resolve(name).unwrap();
        let bytes = s.dumps(&payment()).unwrap();
        assert_eq!(s.loads::<Payment>(&bytes).unwrap(), payment(), "{name}");
        let bytes = s.dumps(&order()).unwrap();
        assert_eq!(s.loads::<Order>(&bytes).unwrap(), order(), "{name}");
    }
    // msgpack keeps the metadata as a map entry, too.
    let bytes = Serializer::resolve("msgpack")
        .unwrap()
        .dumps(&order())
        .unwrap();
    let v: serde_json::Value = rmp_serde_value(&bytes);
    assert_eq!(v["__faust"]["ns"], "app.Order");
    // json|binary is base64 of Faust's bytes.
    let b = Serializer::resolve("json|binary")
        .unwrap()
        .dumps(&order())
        .unwrap();
    assert_eq!(
        Serializer::resolve("raw|binary")
            .unwrap()
            .loads::<String>(&b)
            .unwrap(),
        FAUST_ORDER
    );
}

fn rmp_serde_value(bytes: &[u8]) -> serde_json::Value {
    Serializer::resolve("msgpack")
        .unwrap()
        .loads(bytes)
        .unwrap()
}

fn arb_order() -> impl Strategy<Value = Order> {
    (any::<u64>(), any::<String>(), any::<u32>()).prop_map(|(id, product, quantity)| Order {
        id,
        product,
        quantity,
    })
}

fn arb_payment() -> impl Strategy<Value = Payment> {
    (
        any::<u128>(),
        (any::<i64>(), 0u32..10),
        (0i64..4_102_444_800, 0u32..1_000_000),
        proptest::collection::btree_set(".{0,5}", 0..3),
        any::<(i32, i32)>(),
        any::<bool>(),
        ".{0,10}",
    )
        .prop_map(
            |(id, (m, scale), (secs, micros), tags, point, paid, memo)| Payment {
                id: Uuid::from_u128(id),
                amount: Decimal::new(m, scale),
                at: DateTime::from_timestamp(secs, micros * 1000).unwrap(),
                settled: if paid {
                    DateTime::from_timestamp(secs, 0)
                } else {
                    None
                },
                day: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()
                    + chrono::Days::new((secs % 10_000) as u64),
                tags,
                point,
                status: if paid { Status::Paid } else { Status::Open },
                priority: if paid { Priority::High } else { Priority::Low },
                memo: memo.into_bytes(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn records_round_trip(o in arb_order(), p in arb_payment()) {
        for name in ["json", "json|binary", "msgpack", "msgpack|binary"] {
            let s = Serializer::resolve(name).unwrap();
            prop_assert_eq!(&s.loads::<Order>(&s.dumps(&o).unwrap()).unwrap(), &o, "{}", name);
            prop_assert_eq!(&s.loads::<Payment>(&s.dumps(&p).unwrap()).unwrap(), &p, "{}", name);
        }
        // The JSON is the plain JSON plus the metadata, and decodes without it.
        let json = serde_json::to_string(&o).unwrap();
        let suffix = r#","__faust":{"ns":"app.Order"}}"#;
        prop_assert!(json.ends_with(suffix));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut plain = v.clone();
        plain.as_object_mut().unwrap().remove("__faust");
        prop_assert_eq!(serde_json::from_value::<Order>(plain).unwrap(), o);
    }
}

// ---------------------------------------------------------------------------------------------
// Records on a topic.

mod on_a_topic {
    use super::{order, Order, FAUST_ORDER};
    use faust_runtime::prelude::*;
    use faust_runtime::Schema;
    use std::sync::Mutex;
    use std::time::Duration;

    #[topic(name = "records-orders", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    pub static SEEN: Mutex<Vec<Order>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn collect(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            SEEN.lock().unwrap().push(o);
        }
        Ok(())
    }

    #[tokio::test]
    async fn records_travel_as_faust_bytes() {
        let app = App::builder("records-app")
            .broker("memory://records-on-a-topic")
            .include_module(module_path!())
            .build()
            .unwrap();
        app.start().await.unwrap();
        Orders.on(&app).send("k1", order()).await.unwrap();
        // What a Faust producer writes decodes too, with or without metadata.
        let raw: Schema<String, String> = Schema::new();
        Orders
            .on(&app)
            .send_with(
                &raw,
                "k2",
                r#"{"id":2,"product":"pear","quantity":1}"#.to_string(),
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while SEEN.lock().unwrap().len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent did not get both orders"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(SEEN.lock().unwrap()[0], order());
        assert_eq!(SEEN.lock().unwrap()[1].product, "pear");
        // On the broker: exactly Faust's bytes, key raw.
        let mut bytes = raw.events(&Orders.on(&app));
        let first = tokio::time::timeout(Duration::from_secs(10), bytes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.key.as_deref(), Some("k1"));
        assert_eq!(first.value, FAUST_ORDER);
        app.stop().await.unwrap();
    }
}
