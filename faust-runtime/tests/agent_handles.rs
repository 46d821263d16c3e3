//! Agent handles on the embedded broker: `send`, `cast`, `ask` (request-reply with Faust's
//! headers and envelopes), `map` / `kvmap` / `join`, sinks; and what is committed after each.

mod common;

use bytes::Bytes;
use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::transport::OutgoingRecord;
use faust_runtime::{Error, MemoryBroker, Transport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn app(broker: &MemoryBroker, id: &str, module: &str) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module)
        .commit_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn module(m: &str) -> String {
    format!("{}::{m}", module_path!())
}

/// Reads every record of `topic` (raw bytes, headers included) until `n` are seen.
async fn read_raw(app: &App, topic: &str, n: usize) -> Vec<Event<String, Bytes>> {
    let t = app
        .topic::<String, Bytes>(topic)
        .value_serializer("raw")
        .build()
        .unwrap();
    let mut events = t.events();
    let mut seen = Vec::new();
    while seen.len() < n {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(e)) => seen.push(e),
            _ => panic!("only {} of {n} records on {topic}", seen.len()),
        }
    }
    seen
}

/// An agent that doubles numbers and yields the result; odd multiples of 7 get no answer.
mod doubler {
    use super::*;

    #[topic(name = "ah-numbers", key = String, value = u64, partitions = 2)]
    pub struct Numbers;

    #[agent(Numbers, handle = Doubler)]
    pub async fn double(mut stream: Stream<Numbers>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            if n == 7 {
                continue;
            }
            out.send(n * 2).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_returns_what_the_agent_yields_and_the_requests_are_committed() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "ah-ask", &module("doubler"));
    app.start().await.unwrap();
    let doubler = doubler::Doubler.on(&app);
    assert_eq!(doubler.name(), "double");
    assert_eq!(doubler.topic_name(), "ah-numbers");

    assert_eq!(doubler.ask(21).await.unwrap(), 42);
    assert_eq!(doubler.ask_key("k", 5).await.unwrap(), 10);

    let joined = doubler.join([1, 2, 3, 4, 5]).await.unwrap();
    assert_eq!(
        joined,
        [2, 4, 6, 8, 10],
        "join keeps the order of the values"
    );
    let kv = doubler
        .kvjoin([("a".to_string(), 10), ("b".to_string(), 20)])
        .await
        .unwrap();
    assert_eq!(kv, [20, 40]);

    let mut mapped: Vec<u64> = doubler
        .map([100, 200, 300])
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    mapped.sort();
    assert_eq!(mapped, [200, 400, 600]);
    let mut kvmapped: Vec<u64> = doubler
        .kvmap([("x".to_string(), 1), ("y".to_string(), 2)])
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    kvmapped.sort();
    assert_eq!(kvmapped, [2, 4]);

    // 2 + 5 + 2 + 3 + 2 requests, every one answered: all committed.
    let committed = || {
        (0..2)
            .map(|p| broker.committed("ah-ask", "ah-numbers", p).unwrap_or(0))
            .sum::<i64>()
    };
    assert!(
        eventually(WAIT, || committed() == 14).await,
        "committed {} of 14 requests",
        committed()
    );

    // A request the agent does not answer times out, naming the agent.
    let err = doubler
        .timeout(Duration::from_millis(300))
        .ask(7)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AskTimeout { agent, topic, .. } if agent == "double" && topic == "ah-numbers"),
        "{err}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_sends_faust_headers_and_the_reply_is_a_faust_response() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "ah-wire", &module("doubler"));
    app.start().await.unwrap();
    assert_eq!(doubler::Doubler.on(&app).ask_key("k1", 4).await.unwrap(), 8);
    // The request on the agent's topic: the value as is, Faust's two headers.
    let p = faust_runtime::partitioner::partition_for_key(b"k1", 2);
    let t = app
        .topic::<String, Bytes>("ah-numbers")
        .value_serializer("raw")
        .build()
        .unwrap();
    let mut events = t.events();
    let req = loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap()
            .unwrap();
        if e.partition == p {
            break e;
        }
    };
    assert_eq!(&req.value[..], b"4");
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", req.headers))
    };
    let reply_to = header("Faust-Ag-ReplyTo");
    let correlation = header("Faust-Ag-CorrelationId");
    assert!(reply_to.starts_with("f-reply-"), "{reply_to}");
    assert_eq!(correlation.len(), 36, "a UUID: {correlation}");
    // The reply: Faust's ReqRepResponse, no key.
    let replies = read_raw(&app, &reply_to, 1).await;
    assert_eq!(replies[0].key, None);
    assert_eq!(
        std::str::from_utf8(&replies[0].value).unwrap(),
        format!(
            r#"{{"key":"k1","value":8,"correlation_id":"{correlation}","__faust":{{"ns":"@ReqRepResponse"}}}}"#
        )
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faust_request_envelope_is_unwrapped_and_answered_on_its_reply_topic() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "ah-envelope", &module("doubler"));
    app.start().await.unwrap();
    let reply_topic = unique("f-reply-test");
    app.topics()
        .create_topic(&reply_topic, 1, 1, Default::default())
        .await
        .unwrap();
    // What faust-streaming's `agent.ask(value=12, key="kk")` writes with its default settings.
    let envelope = format!(
        r#"{{"value":12,"reply_to":"{reply_topic}","correlation_id":"c0ffee","__faust":{{"ns":"@ReqRepRequest"}}}}"#
    );
    broker
        .send(OutgoingRecord::new(
            "ah-numbers",
            Some(b"kk".to_vec()),
            Some(envelope.into_bytes()),
        ))
        .await
        .unwrap()
        .await
        .unwrap();
    let replies = read_raw(&app, &reply_topic, 1).await;
    assert_eq!(
        std::str::from_utf8(&replies[0].value).unwrap(),
        r#"{"key":"kk","value":24,"correlation_id":"c0ffee","__faust":{"ns":"@ReqRepResponse"}}"#
    );
    app.stop().await.unwrap();
}

/// Sinks: what `totals` yields goes to a topic, a channel and another agent.
mod sinks {
    use super::*;

    #[topic(name = "ah-sink-in", key = String, value = u64, partitions = 1)]
    pub struct In;

    #[topic(name = "ah-sink-out", key = String, value = u64, partitions = 1)]
    pub struct Out;

    #[channel(value = u64)]
    pub struct Side;

    #[topic(name = "ah-sink-audit", key = String, value = u64, partitions = 1)]
    pub struct AuditIn;

    pub static SIDE_SUM: AtomicU64 = AtomicU64::new(0);
    pub static AUDITED: AtomicU64 = AtomicU64::new(0);

    #[agent(In, sink = [Out, Side, Audit])]
    async fn totals(mut stream: Stream<In>, out: Yield<u64>) -> Result<()> {
        while let Some(v) = stream.next().await {
            out.send(v + 1000).await?;
        }
        Ok(())
    }

    #[agent(Side)]
    async fn side(mut stream: Stream<Side>) {
        while let Some(v) = stream.next().await {
            SIDE_SUM.fetch_add(v, Ordering::Relaxed);
        }
    }

    #[agent(AuditIn, handle = Audit)]
    pub async fn audit(mut stream: Stream<AuditIn>) {
        while stream.next().await.is_some() {
            AUDITED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yielded_values_go_to_every_sink_before_the_event_is_committed() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "ah-sinks", &module("sinks"));
    app.start().await.unwrap();
    for i in 0..10u64 {
        sinks::In.on(&app).send("k", i).await.unwrap();
    }
    assert!(
        eventually(WAIT, || broker.end_offset("ah-sink-out", 0).unwrap_or(0)
            == 10)
        .await
    );
    assert!(eventually(WAIT, || sinks::AUDITED.load(Ordering::Relaxed) == 10).await);
    assert!(
        eventually(WAIT, || sinks::SIDE_SUM.load(Ordering::Relaxed) == 10_045).await,
        "the channel agent got every value: {}",
        sinks::SIDE_SUM.load(Ordering::Relaxed)
    );
    assert!(
        eventually(WAIT, || broker.committed("ah-sinks", "ah-sink-in", 0)
            == Some(10))
        .await
    );
    let out = read_raw(&app, "ah-sink-out", 10).await;
    assert_eq!(&out[3].value[..], b"1003");
    assert_eq!(out[3].key, None, "sinks send without a key, as Faust's do");
    app.stop().await.unwrap();
}

/// `send` and `cast` put values on the agent's topic without asking for a reply.
mod casting {
    use super::*;

    #[topic(name = "ah-cast", key = String, value = u64, partitions = 1)]
    pub struct Jobs;

    pub static DONE: AtomicU64 = AtomicU64::new(0);

    #[agent(Jobs, handle = Worker)]
    pub async fn work(mut stream: Stream<Jobs>) {
        while let Some(v) = stream.next().await {
            DONE.fetch_add(v, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_cast_reach_the_agent_without_reply_headers() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "ah-casting", &module("casting"));
    app.start().await.unwrap();
    let worker = casting::Worker.on(&app);
    worker.send("a", 1).await.unwrap().await.unwrap();
    worker.cast(2).await.unwrap();
    assert!(eventually(WAIT, || casting::DONE.load(Ordering::Relaxed) == 3).await);
    assert!(
        eventually(WAIT, || broker.committed("ah-casting", "ah-cast", 0)
            == Some(2))
        .await
    );
    let raw = read_raw(&app, "ah-cast", 2).await;
    assert!(raw.iter().all(|e| e.headers.is_empty()));
    assert_eq!(raw[0].key.as_deref(), Some("a"));
    assert_eq!(raw[1].key, None);
    app.stop().await.unwrap();
}
