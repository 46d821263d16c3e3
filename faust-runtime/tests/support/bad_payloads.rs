//! Bad payloads end to end, on any broker: the scenarios `bad_payloads.rs` runs on the embedded
//! broker and `kafka_bad_payloads.rs` on Kafka.
//!
//! Every topic has one partition so offsets are known. Each scenario declares its own topics and
//! agents in its own module and runs apps that include only that module.

#![allow(dead_code)]

use faust_runtime::prelude::*;
use faust_runtime::transport::{Headers, OutgoingRecord};
use faust_runtime::{AppBuilder, MemoryBroker};
use std::time::Duration;

/// Where the scenarios run.
pub struct Env {
    /// Broker URL.
    pub url: String,
    /// The embedded broker, to check committed offsets directly.
    pub memory: Option<MemoryBroker>,
    /// Suffix making app ids (consumer groups) unique to this run.
    pub run: String,
    /// How long to wait for anything to happen (covers consumer group joins).
    pub patience: Duration,
}

impl Env {
    /// An app of this scenario: one-partition topics, quick commits.
    pub fn app(&self, name: &str, module: &str) -> AppBuilder {
        App::builder(format!("{name}-{}", self.run))
            .broker(self.url.clone())
            .include_module(module)
            .topic_partitions(1)
            .commit_interval(Duration::from_millis(200))
            .shutdown_timeout(Duration::from_secs(15))
    }

    /// The committed offset of `app`'s group on partition 0 of `topic`, where the broker tells.
    pub fn committed(&self, app: &App, topic: &str) -> Option<Option<i64>> {
        self.memory
            .as_ref()
            .map(|b| b.committed(&app.group_id(), topic, 0))
    }

    /// Waits until `cond` holds.
    pub async fn eventually(&self, what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + self.patience;
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {:?} waiting for {what}",
                self.patience
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Puts bytes on partition 0 of `topic` as they are, bypassing every codec; returns the offset.
pub async fn put(
    app: &App,
    topic: &str,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: Headers,
) -> i64 {
    app.transport()
        .send(OutgoingRecord {
            topic: topic.to_string().into(),
            partition: Some(0),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
            timestamp: None,
            acks: None,
            delivery_guarantee: None,
            notice: Default::default(),
        })
        .await
        .expect("enqueue raw record")
        .await
        .expect("broker acknowledged raw record")
        .offset
}

/// `class Order(faust.Record, namespace="app.Order")`.
#[record(namespace = "app.Order")]
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub product: String,
    pub quantity: u32,
}

/// Faust's bytes for order `id`.
pub fn good(id: u64) -> Vec<u8> {
    format!(r#"{{"id":{id},"product":"apple","quantity":7,"__faust":{{"ns":"app.Order"}}}}"#)
        .into_bytes()
}

/// Values that do not decode as an `Order`, with what is wrong with them.
pub fn bad_values() -> Vec<(&'static str, Option<Vec<u8>>)> {
    vec![
        ("malformed JSON", Some(b"{id: 1, product: apple}".to_vec())),
        (
            "wrong types",
            Some(br#"{"id":"ten","product":"apple","quantity":7}"#.to_vec()),
        ),
        ("truncated", Some(good(3)[..20].to_vec())),
        ("empty", Some(Vec::new())),
        ("tombstone", None),
        ("binary garbage", Some(vec![0xff, 0x00, 0xfe, 0x01])),
    ]
}

/// A key that is not UTF-8, for topics whose keys are strings.
pub const BAD_KEY: &[u8] = b"\xff\xfe-key";

fn header(name: &str, value: &str) -> (String, Option<bytes::Bytes>) {
    (
        name.to_string(),
        Some(bytes::Bytes::from(value.to_string())),
    )
}

fn text(h: Option<&[u8]>) -> String {
    String::from_utf8_lossy(h.unwrap_or_default()).into_owned()
}

/// Topics every scenario uses (to delete before a Kafka run).
pub const TOPICS: &[&str] = &[
    "bp-skip-orders",
    "bp-skip-lines",
    "bp-dl-orders",
    "bp-dl-orders-dlq",
    "bp-dl-named",
    "bp-dl-named-target",
    "bp-def-orders",
    "bp-def-orders-dlq",
    "bp-stop-orders",
    "bp-send-orders",
    "bp-send-raw",
    "bp-send-grid",
    "bp-send-numbers",
];

/// Reads `n` events from a reader stream, failing after the env's patience.
async fn read_events<H: Channel>(
    env: &Env,
    events: &mut faust_runtime::Events<H>,
    n: usize,
) -> Vec<faust_runtime::Event<H::Key, H::Value>> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(env.patience, events.next()).await {
            Ok(Some(ev)) => out.push(ev),
            Ok(None) => panic!("reader ended after {} of {n} events", out.len()),
            Err(_) => panic!("timed out reading: got {} of {n} events", out.len()),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------

/// Policy skip (the default): bad records are logged, counted, committed past; good ones after
/// them are processed; a restarted app does not see them again.
pub mod skip {
    use super::*;
    use std::sync::Mutex;

    /// No `on_error`: the app's default, which is skip.
    #[topic(name = "bp-skip-orders", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    /// Text values (`raw` codec).
    #[topic(name = "bp-skip-lines", key = String, value = String, partitions = 1)]
    pub struct Lines;

    pub static ORDERS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn take_orders(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            ORDERS.lock().unwrap().push(o.id);
        }
        Ok(())
    }

    #[agent(Lines)]
    async fn take_lines(mut lines: Stream<Lines>) -> Result<()> {
        while let Some(l) = lines.next().await {
            LINES.lock().unwrap().push(l);
        }
        Ok(())
    }

    pub async fn run(env: &Env) {
        let app = env.app("bp-skip", module_path!()).build().unwrap();
        app.start().await.unwrap();
        let k = Some(&b"k"[..]);
        put(&app, "bp-skip-orders", k, Some(&good(1)), vec![]).await;
        let bad = bad_values();
        for (_, v) in &bad {
            put(&app, "bp-skip-orders", k, v.as_deref(), vec![]).await;
        }
        put(
            &app,
            "bp-skip-orders",
            Some(BAD_KEY),
            Some(&good(9)),
            vec![],
        )
        .await;
        let last = put(&app, "bp-skip-orders", k, Some(&good(2)), vec![]).await;
        assert_eq!(last as usize, bad.len() + 2);

        put(&app, "bp-skip-lines", k, Some(b"one"), vec![]).await;
        put(&app, "bp-skip-lines", k, Some(b"caf\xc3"), vec![]).await; // invalid UTF-8
        put(&app, "bp-skip-lines", k, None, vec![]).await; // tombstone: String has no null
        put(&app, "bp-skip-lines", k, Some(b""), vec![]).await; // empty text is text
        put(&app, "bp-skip-lines", k, Some(b"two"), vec![]).await;

        env.eventually("the good orders", || *ORDERS.lock().unwrap() == [1, 2])
            .await;
        env.eventually("the good lines", || {
            *LINES.lock().unwrap() == ["one", "", "two"]
        })
        .await;
        let skipped = bad.len() as u64 + 1 + 2;
        assert_eq!(app.health().skipped, skipped, "{:?}", app.health());
        assert_eq!(app.health().fatal, None);
        app.stop().await.unwrap();
        app.wait().await.unwrap();
        if let Some(c) = env.committed(&app, "bp-skip-orders") {
            assert_eq!(c, Some(last + 1), "committed past every record");
            assert_eq!(env.committed(&app, "bp-skip-lines").unwrap(), Some(5));
        }

        // A restarted app (same group) starts after them: only the new record arrives.
        let again = env.app("bp-skip", module_path!()).build().unwrap();
        again.start().await.unwrap();
        put(&again, "bp-skip-orders", k, Some(&good(3)), vec![]).await;
        env.eventually("the new order", || *ORDERS.lock().unwrap() == [1, 2, 3])
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(*ORDERS.lock().unwrap(), [1, 2, 3]);
        assert_eq!(*LINES.lock().unwrap(), ["one", "", "two"]);
        assert_eq!(again.health().skipped, 0);
        again.stop().await.unwrap();
    }
}

/// Policy dead_letter: the original bytes and headers, plus error headers, land on the
/// dead-letter topic; the source is committed past them.
pub mod dead_letter {
    use super::*;
    use std::sync::Mutex;

    #[topic(name = "bp-dl-orders", key = String, value = Order, partitions = 1, on_error = "dead_letter")]
    pub struct Orders;

    /// The default dead-letter topic of `Orders`, read as bytes.
    #[topic(name = "bp-dl-orders-dlq", key = Vec<u8>, value = Option<Vec<u8>>, value_serializer = "raw")]
    pub struct OrdersDlq;

    #[topic(name = "bp-dl-named", key = String, value = Order, partitions = 1, on_error = "dead_letter", dead_letter = "bp-dl-named-target")]
    pub struct Named;

    #[topic(name = "bp-dl-named-target", key = Vec<u8>, value = Option<Vec<u8>>, value_serializer = "raw")]
    pub struct NamedTarget;

    pub static ORDERS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static NAMED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn take_orders(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            ORDERS.lock().unwrap().push(o.id);
        }
        Ok(())
    }

    #[agent(Named)]
    async fn take_named(mut orders: Stream<Named>) -> Result<()> {
        while let Some(o) = orders.next().await {
            NAMED.lock().unwrap().push(o.id);
        }
        Ok(())
    }

    pub async fn run(env: &Env) {
        let app = env.app("bp-dl", module_path!()).build().unwrap();
        app.start().await.unwrap();
        let k = Some(&b"k"[..]);
        put(
            &app,
            "bp-dl-orders",
            k,
            Some(&good(1)),
            vec![header("trace", "t-1")],
        )
        .await;
        let mut sent = Vec::new();
        for (i, (what, v)) in bad_values().into_iter().enumerate() {
            let headers = vec![header("trace", &format!("bad-{i}")), header("what", what)];
            let offset = put(&app, "bp-dl-orders", k, v.as_deref(), headers.clone()).await;
            sent.push((offset, k.map(<[u8]>::to_vec), v, headers));
        }
        let headers = vec![header("trace", "bad-key")];
        let offset = put(
            &app,
            "bp-dl-orders",
            Some(BAD_KEY),
            Some(&good(9)),
            headers.clone(),
        )
        .await;
        sent.push((offset, Some(BAD_KEY.to_vec()), Some(good(9)), headers));
        let last = put(&app, "bp-dl-orders", k, Some(&good(2)), vec![]).await;

        put(&app, "bp-dl-named", None, Some(b"[]"), vec![]).await;
        put(&app, "bp-dl-named", None, Some(&good(5)), vec![]).await;

        env.eventually("the good orders", || *ORDERS.lock().unwrap() == [1, 2])
            .await;
        env.eventually("the named topic's good order", || {
            *NAMED.lock().unwrap() == [5]
        })
        .await;
        assert_eq!(app.health().dead_lettered, sent.len() as u64 + 1);
        assert_eq!(app.health().skipped, 0);

        // Every bad record, byte for byte, with its headers and the error headers.
        let mut dlq = OrdersDlq.on(&app).events();
        let got = read_events(env, &mut dlq, sent.len()).await;
        for (ev, (offset, key, value, headers)) in got.iter().zip(&sent) {
            assert_eq!(ev.key.as_ref(), key.as_ref(), "key of @{offset}");
            assert_eq!(ev.value.as_ref(), value.as_ref(), "value of @{offset}");
            assert_eq!(
                &ev.headers[..headers.len()],
                &headers[..],
                "original headers of @{offset}"
            );
            assert_eq!(text(ev.header("faust-error-topic")), "bp-dl-orders");
            assert_eq!(text(ev.header("faust-error-partition")), "0");
            assert_eq!(text(ev.header("faust-error-offset")), offset.to_string());
            let error = text(ev.header("faust-error"));
            assert!(
                error.contains(&format!("bp-dl-orders[0]@{offset}")),
                "{error}"
            );
            let what = if key.as_deref() == Some(BAD_KEY) {
                "key"
            } else {
                "value"
            };
            assert!(
                error.contains(&format!("cannot deserialize {what}")),
                "{error}"
            );
        }
        // A tombstone stays a tombstone.
        assert!(got.iter().any(|ev| ev.value.is_none()));

        let mut named = NamedTarget.on(&app).events();
        let got = read_events(env, &mut named, 1).await;
        assert_eq!(got[0].value.as_deref(), Some(&b"[]"[..]));
        assert_eq!(text(got[0].header("faust-error-topic")), "bp-dl-named");
        drop((dlq, named));

        app.stop().await.unwrap();
        app.wait().await.unwrap();
        if let Some(c) = env.committed(&app, "bp-dl-orders") {
            assert_eq!(c, Some(last + 1), "committed past every record");
        }

        // A restarted app (same group) starts after them.
        let again = env.app("bp-dl", module_path!()).build().unwrap();
        again.start().await.unwrap();
        put(&again, "bp-dl-orders", k, Some(&good(3)), vec![]).await;
        env.eventually("the new order", || *ORDERS.lock().unwrap() == [1, 2, 3])
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(again.health().dead_lettered, 0);
        assert_eq!(*ORDERS.lock().unwrap(), [1, 2, 3]);
        again.stop().await.unwrap();
    }
}

/// The app-wide default policy applies to topics that do not declare one.
pub mod app_default {
    use super::*;
    use faust_runtime::ErrorPolicy;
    use std::sync::Mutex;

    #[topic(name = "bp-def-orders", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    #[topic(name = "bp-def-orders-dlq", key = Vec<u8>, value = Option<Vec<u8>>, value_serializer = "raw")]
    pub struct OrdersDlq;

    pub static ORDERS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn take_orders(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            ORDERS.lock().unwrap().push(o.id);
        }
        Ok(())
    }

    pub async fn run(env: &Env) {
        let app = env
            .app("bp-def-dl", module_path!())
            .on_error(ErrorPolicy::DeadLetter)
            .build()
            .unwrap();
        app.start().await.unwrap();
        put(&app, "bp-def-orders", None, Some(&good(1)), vec![]).await;
        let bad = put(&app, "bp-def-orders", None, Some(b"{"), vec![]).await;
        put(&app, "bp-def-orders", None, Some(&good(2)), vec![]).await;
        env.eventually("the good orders", || *ORDERS.lock().unwrap() == [1, 2])
            .await;
        let mut dlq = OrdersDlq.on(&app).events();
        let got = read_events(env, &mut dlq, 1).await;
        assert_eq!(got[0].value.as_deref(), Some(&b"{"[..]));
        assert_eq!(text(got[0].header("faust-error-offset")), bad.to_string());
        drop(dlq);
        app.stop().await.unwrap();

        // Another app (another group) with stop as its default stops at the same record.
        let strict = env
            .app("bp-def-stop", module_path!())
            .on_error(ErrorPolicy::Stop)
            .build()
            .unwrap();
        strict.start().await.unwrap();
        let err = tokio::time::timeout(env.patience, strict.wait())
            .await
            .expect("the app stops by itself")
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("bp-def-orders[0]@{bad}")),
            "{err}"
        );
    }
}

/// Policy stop: the app stops with an error naming the record; nothing past it is committed; a
/// restarted app meets the same record again.
pub mod stop {
    use super::*;
    use std::sync::Mutex;

    #[topic(name = "bp-stop-orders", key = String, value = Order, partitions = 1, on_error = "stop")]
    pub struct Orders;

    pub static ORDERS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn take_orders(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            ORDERS.lock().unwrap().push(o.id);
        }
        Ok(())
    }

    pub async fn run(env: &Env) {
        let app = env.app("bp-stop", module_path!()).build().unwrap();
        app.start().await.unwrap();
        let k = Some(&b"k"[..]);
        put(&app, "bp-stop-orders", k, Some(&good(1)), vec![]).await;
        put(&app, "bp-stop-orders", k, Some(&good(2)), vec![]).await;
        let bad = put(
            &app,
            "bp-stop-orders",
            k,
            Some(br#"{"id":"three"}"#),
            vec![],
        )
        .await;
        put(&app, "bp-stop-orders", k, Some(&good(4)), vec![]).await;

        let err = tokio::time::timeout(env.patience, app.wait())
            .await
            .expect("the app stops by itself")
            .unwrap_err();
        let coordinates = format!("bp-stop-orders[0]@{bad}");
        let msg = err.to_string();
        assert!(msg.contains(&coordinates), "{msg}");
        assert!(msg.contains("cannot deserialize value"), "{msg}");
        let fatal = app.health().fatal.unwrap_or_default();
        assert!(fatal.contains(&coordinates), "{fatal}");
        env.eventually("the orders before the bad one", || {
            *ORDERS.lock().unwrap() == [1, 2]
        })
        .await;
        if let Some(c) = env.committed(&app, "bp-stop-orders") {
            assert!(
                c.unwrap_or(0) <= bad,
                "committed {c:?}, past the bad record @{bad}"
            );
        }

        // Restarted with the same group: the same record stops it again; 4 is never processed.
        let again = env.app("bp-stop", module_path!()).build().unwrap();
        again.start().await.unwrap();
        let err = tokio::time::timeout(env.patience, again.wait())
            .await
            .expect("the restarted app stops by itself")
            .unwrap_err();
        assert!(err.to_string().contains(&coordinates), "{err}");
        assert!(!ORDERS.lock().unwrap().contains(&4));
        if let Some(c) = env.committed(&again, "bp-stop-orders") {
            assert!(
                c.unwrap_or(0) <= bad,
                "committed {c:?}, past the bad record @{bad}"
            );
        }
    }
}

/// `send` never hands an unserializable value to the broker: the error names the topic and
/// nothing is sent.
pub mod send_errors {
    use super::*;
    use faust_runtime::{Error, Schema};
    use std::collections::BTreeMap;

    #[topic(name = "bp-send-orders", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    /// Structs cannot go raw.
    #[topic(name = "bp-send-raw", key = String, value = Order, value_serializer = "raw", partitions = 1)]
    pub struct RawOrders;

    /// JSON objects need string keys.
    #[topic(name = "bp-send-grid", key = String, value = BTreeMap<(i32, i32), String>, partitions = 1)]
    pub struct Grid;

    /// A number cannot be a raw key.
    #[topic(name = "bp-send-numbers", key = u64, value = String, partitions = 1)]
    pub struct Numbers;

    #[agent(Orders)]
    async fn take_orders(mut orders: Stream<Orders>) -> Result<()> {
        while orders.next().await.is_some() {}
        Ok(())
    }

    fn order() -> Order {
        Order {
            id: 1,
            product: "apple".into(),
            quantity: 7,
        }
    }

    fn assert_serialize(
        r: faust_runtime::Result<impl std::fmt::Debug>,
        topic: &str,
        part: &str,
        codec_name: &str,
    ) {
        match r {
            Err(Error::Serialize {
                topic: t,
                what,
                codec,
                reason,
            }) => {
                assert_eq!(t, topic);
                assert_eq!(what, part);
                assert_eq!(codec, codec_name);
                assert!(!reason.is_empty());
            }
            other => panic!("expected a serialization error for {topic}, got {other:?}"),
        }
    }

    pub async fn run(env: &Env) {
        let app = env.app("bp-send", module_path!()).build().unwrap();
        app.start().await.unwrap();

        assert_serialize(
            RawOrders.on(&app).send("k", order()).await,
            "bp-send-raw",
            "value",
            "raw",
        );
        assert_serialize(
            RawOrders.on(&app).send_soon("k", order()),
            "bp-send-raw",
            "value",
            "raw",
        );
        let grid = BTreeMap::from([((0, 0), "origin".to_string())]);
        let r = Grid.on(&app).send("k", grid).await;
        assert!(
            matches!(&r, Err(Error::Serialize { reason, .. }) if reason.contains("key must be a string")),
            "{r:?}"
        );
        assert_serialize(
            Numbers.on(&app).send(7u64, "seven".to_string()).await,
            "bp-send-numbers",
            "key",
            "raw",
        );
        // Per-message serializers: unknown names, and ones that cannot carry the type.
        let r = Orders
            .on(&app)
            .record(order())
            .key("k")
            .value_serializer("nope")
            .send()
            .await;
        assert!(
            matches!(&r, Err(Error::UnknownCodec { name, .. }) if name == "nope"),
            "{r:?}"
        );
        let r = Orders
            .on(&app)
            .record(order())
            .key("k")
            .key_serializer("json|zip")
            .send()
            .await;
        assert!(
            matches!(&r, Err(Error::UnknownCodec { name, .. }) if name == "zip"),
            "{r:?}"
        );
        assert_serialize(
            Orders
                .on(&app)
                .record(order())
                .key("k")
                .value_serializer("raw|binary")
                .send()
                .await,
            "bp-send-orders",
            "value",
            "raw|binary",
        );
        let msg = RawOrders
            .on(&app)
            .send("k", order())
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bp-send-raw") && msg.contains("raw"), "{msg}");

        // Nothing reached the broker: the first record each topic gets now is at offset 0.
        let text: Schema<String, String> = Schema::new();
        let meta = Orders
            .on(&app)
            .send_with(&text, "k", "marker".to_string())
            .await
            .unwrap();
        assert_eq!(meta.offset, 0);
        let meta = RawOrders
            .on(&app)
            .send_with(&text, "k", "marker".to_string())
            .await
            .unwrap();
        assert_eq!(meta.offset, 0);
        let meta = Grid
            .on(&app)
            .send_with(&text, "k", "marker".to_string())
            .await
            .unwrap();
        assert_eq!(meta.offset, 0);
        let meta = Numbers
            .on(&app)
            .record("marker".to_string())
            .send_and_wait()
            .await
            .unwrap();
        assert_eq!(meta.offset, 0);
        if let Some(b) = &env.memory {
            for t in [
                "bp-send-orders",
                "bp-send-raw",
                "bp-send-grid",
                "bp-send-numbers",
            ] {
                assert_eq!(b.end_offset(t, 0).unwrap(), 1, "{t}");
            }
        }
        app.stop().await.unwrap();
    }
}
