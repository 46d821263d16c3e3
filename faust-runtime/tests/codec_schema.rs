//! Schemas: a second payload type on one topic, sent and read with its own serializers.

use faust_runtime::prelude::*;
use faust_runtime::{Error, Schema};

#[record(namespace = "app.Order")]
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub product: String,
}

#[record(namespace = "app.Cancellation")]
#[derive(Clone, Debug, PartialEq)]
pub struct Cancellation {
    pub order_id: u64,
    pub reason: String,
}

/// Cancellations keyed by order id (JSON number), as msgpack.
static CANCELLATIONS: Schema<u64, Cancellation> = Schema::with_serializers("json", "msgpack");

#[test]
fn defaults_follow_faust() {
    let s: Schema<String, Order> = Schema::new();
    assert_eq!(s.key_serializer_name(), "raw");
    assert_eq!(s.value_serializer_name(), "json");
    let text: Schema<String, String> = Schema::new();
    assert_eq!(text.value_serializer_name(), "raw");
    assert_eq!(
        Schema::<String, Vec<u8>>::new().value_serializer_name(),
        "raw"
    );
    assert_eq!(
        Schema::<String, bytes::Bytes>::new().value_serializer_name(),
        "raw"
    );
    let custom = Schema::<u64, Order>::new()
        .key_serializer("json")
        .value_serializer(String::from("json|binary"));
    assert_eq!(custom.key_serializer_name(), "json");
    assert_eq!(custom.value_serializer_name(), "json|binary");
    assert!(format!("{custom:?}").contains("json|binary"));
}

#[test]
fn encodes_and_decodes_apart_from_topics() {
    let c = Cancellation {
        order_id: 7,
        reason: "late".into(),
    };
    assert_eq!(CANCELLATIONS.dumps_key("t", &7).unwrap(), b"7");
    let bytes = CANCELLATIONS.dumps_value("t", &c).unwrap();
    assert_eq!(CANCELLATIONS.loads_value(&bytes).unwrap(), c);
    assert_eq!(CANCELLATIONS.loads_key(b"7").unwrap(), 7);
    assert!(CANCELLATIONS.loads_key(b"seven").is_err());
    assert!(CANCELLATIONS.loads_value(br#"{"order_id":7}"#).is_err());
    let unknown = Schema::<String, Order>::new().value_serializer("yaml");
    assert!(matches!(unknown.codecs(), Err(Error::UnknownCodec { name, .. }) if name == "yaml"));
    let raw_struct = Schema::<String, Order>::new().value_serializer("raw");
    let err = raw_struct
        .dumps_value(
            "orders",
            &Order {
                id: 1,
                product: "x".into(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Serialize { topic, what: "value", .. } if topic == "orders"),
        "{err}"
    );
}

mod one_topic_two_types {
    use super::{Cancellation, Order, CANCELLATIONS};
    use faust_runtime::prelude::*;
    use faust_runtime::{Error, Schema};
    use std::time::Duration;

    #[topic(name = "schema-orders", key = String, value = Order, partitions = 2)]
    pub struct Orders;

    /// Something to run; the topic is only read through reader streams here.
    #[timer(interval = "1h")]
    async fn idle() {}

    #[tokio::test]
    async fn a_schema_sends_and_reads_a_second_payload_type() {
        let app = App::builder("schema-app")
            .broker("memory://schema-one-topic-two-types")
            .include_module(module_path!())
            .build()
            .unwrap();
        app.start().await.unwrap();
        let orders = Orders.on(&app);
        orders
            .send(
                "o-1",
                Order {
                    id: 1,
                    product: "apple".into(),
                },
            )
            .await
            .unwrap();
        let c = Cancellation {
            order_id: 1,
            reason: "late".into(),
        };
        let meta = orders
            .record_with(&CANCELLATIONS, c.clone())
            .key(1u64)
            .header("kind", "cancellation")
            .partition(1)
            .send_and_wait()
            .await
            .unwrap();
        assert_eq!((&*meta.topic, meta.partition), ("schema-orders", 1));
        orders
            .send_with(&CANCELLATIONS, 2u64, c.clone())
            .await
            .unwrap();

        // Read with the schema: the cancellations; the order does not decode as one and the
        // topic's policy (skip) passes over it.
        let mut events = CANCELLATIONS.events(&orders);
        let mut got = Vec::new();
        while got.len() < 2 {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("schema stream yields")
                .expect("schema stream open");
            got.push(ev);
        }
        got.sort_by_key(|e| e.key);
        assert_eq!(got[0].key, Some(1));
        assert_eq!(got[0].value, c);
        assert_eq!(got[0].header("kind"), Some(&b"cancellation"[..]));
        assert_eq!(got[1].key, Some(2));
        assert_eq!(got[0].topic, "schema-orders");

        // The topic's own stream reads the orders, passing over the cancellations.
        let mut own = orders.stream();
        let first = tokio::time::timeout(Duration::from_secs(10), own.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.id, 1);

        // As bytes: key and value as the schema's serializers wrote them.
        let bytes: Schema<Vec<u8>, Vec<u8>> = Schema::new();
        let mut raw = bytes.events(&orders);
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(
                tokio::time::timeout(Duration::from_secs(10), raw.next())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert!(seen.iter().any(|e| e.key.as_deref() == Some(&b"2"[..])));
        assert!(seen.iter().any(|e| e.key.as_deref() == Some(&b"o-1"[..])));
        let msgpack = seen
            .iter()
            .find(|e| e.key.as_deref() == Some(&b"2"[..]))
            .unwrap();
        assert_eq!(msgpack.value[0] & 0xf0, 0x80, "a msgpack map");

        // Serialization errors name the topic and send nothing.
        let raw_struct = Schema::<String, Cancellation>::new().value_serializer("raw");
        let err = orders
            .send_with(&raw_struct, "x", c.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Serialize { topic, .. } if topic == "schema-orders"),
            "{err}"
        );
        let bad_key = Schema::<u64, Cancellation>::new();
        let err = orders
            .send_with(&bad_key, 3u64, c.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Serialize { what: "key", .. }),
            "{err}"
        );
        let unknown = Schema::<u64, Cancellation>::new().key_serializer("nope");
        let err = orders.send_with(&unknown, 3u64, c).await.unwrap_err();
        assert!(matches!(&err, Error::UnknownCodec { .. }), "{err}");

        drop((events, own, raw));
        app.stop().await.unwrap();
        // Sends after stopping are refused.
        let err = orders
            .send_with(
                &CANCELLATIONS,
                9u64,
                super::Cancellation {
                    order_id: 9,
                    reason: String::new(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::State(_)), "{err}");
    }

    #[tokio::test]
    async fn without_an_app_a_schema_stream_ends_at_once() {
        let mut s = CANCELLATIONS.stream(&Orders);
        assert!(tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap()
            .is_none());
    }
}
