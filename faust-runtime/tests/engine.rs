//! The delivery engine on the embedded broker: event-scoped acknowledgement and sends, the
//! lifecycle, rebalances and topology changes. Each case is a situation the first engine got
//! wrong (lost work, stalled, committed unprocessed offsets or redelivered stale events).

mod common;
#[path = "common/wrapped.rs"]
mod wrapped;

use common::{eventually, unique, Gate};
use faust_runtime::prelude::*;
use faust_runtime::{AppState, MemoryBroker, Transport};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wrapped::{intercept, Intercept, Wrapped};

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

/// An agent forwarding every record with `send(..).await`, stopped mid-stream.
mod forward {
    use super::*;

    #[topic(name = "eng-fwd-in", key = String, value = u64, partitions = 1)]
    pub struct In;

    #[topic(name = "eng-fwd-out", key = String, value = u64, partitions = 1)]
    pub struct Out;

    pub static FORWARDED: AtomicU64 = AtomicU64::new(0);

    #[agent(In)]
    async fn forward(mut values: Stream<In>) -> Result<()> {
        while let Some(v) = values.next().await {
            tokio::task::yield_now().await;
            Out.send(format!("k{v}"), v).await?;
            FORWARDED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarding_agent_stopped_mid_stream_has_an_output_for_every_committed_input() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-fwd", &module("forward"));
    app.start().await.unwrap();
    let input = forward::In.on(&app);
    for i in 0..3000u64 {
        input.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(eventually(WAIT, || forward::FORWARDED.load(Ordering::Relaxed) >= 100).await);
    app.stop().await.unwrap();
    assert_eq!(app.state(), AppState::Stopped);

    let committed = broker.committed("eng-fwd", "eng-fwd-in", 0).unwrap_or(0);
    let written = broker.end_offset("eng-fwd-out", 0).unwrap();
    assert!(committed > 0, "something was committed");
    // Inputs are forwarded in order, one output each: every committed input has its output.
    assert!(
        written >= committed,
        "{committed} input offsets committed but only {written} outputs written"
    );
}

/// A value type whose `Deserialize` panics on one record.
mod panicky {
    use super::*;
    use serde::de::{Deserialize, Deserializer};

    #[derive(Debug, Clone, Serialize)]
    pub struct Touchy(pub u64);

    impl<'de> Deserialize<'de> for Touchy {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            let n = u64::deserialize(d)?;
            if n == 13 {
                panic!("unlucky number");
            }
            Ok(Touchy(n))
        }
    }

    #[topic(name = "eng-panicky", key = String, value = Touchy, partitions = 1)]
    pub struct Touchies;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Touchies)]
    async fn read(mut values: Stream<Touchies>) -> Result<()> {
        while let Some(v) = values.next().await {
            SEEN.lock().unwrap().push(v.0);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_deserialize_is_a_decode_error_under_the_topics_policy() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-panicky", &module("panicky"));
    app.start().await.unwrap();
    let t = panicky::Touchies.on(&app);
    for i in 0..20u64 {
        t.send(format!("k{i}"), panicky::Touchy(i)).await.unwrap();
    }
    assert!(eventually(WAIT, || panicky::SEEN.lock().unwrap().len() == 19).await);
    let seen = panicky::SEEN.lock().unwrap().clone();
    assert!(!seen.contains(&13));
    assert_eq!(
        seen.last(),
        Some(&19),
        "records after the panic are processed"
    );
    let h = app.health();
    assert_eq!(h.state, AppState::Running);
    assert_eq!(h.skipped, 1);
    assert!(
        eventually(WAIT, || broker.committed("eng-panicky", "eng-panicky", 0)
            == Some(20))
        .await
    );
    app.stop().await.unwrap();
}

/// A timer that stops its own app.
mod self_stop {
    use super::*;

    #[timer(interval = "20ms")]
    async fn stopper() -> Result<()> {
        App::current()?.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_called_from_a_timer_returns_and_the_app_stops() {
    let broker = MemoryBroker::new();
    // A stop that waited for the timer calling it would only end by the shutdown timeout's
    // abort: make that far longer than the wait below.
    let app = App::builder("eng-self-stop")
        .transport(Arc::new(broker.clone()))
        .include_module(module("self_stop"))
        .shutdown_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::timeout(WAIT, app.wait())
        .await
        .expect("the app stopped")
        .unwrap();
    assert_eq!(app.state(), AppState::Stopped);
}

/// An agent that returns at once, beside one that works.
mod returns {
    use super::*;

    #[topic(name = "eng-returns", key = String, value = u64, partitions = 1)]
    pub struct Ticks;

    #[topic(name = "eng-returns-work", key = String, value = u64, partitions = 1)]
    pub struct Work;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);
    pub static WORKED: AtomicUsize = AtomicUsize::new(0);

    #[agent(Ticks)]
    async fn quitter(_values: Stream<Ticks>) -> Result<()> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    #[agent(Work)]
    async fn worker(mut values: Stream<Work>) -> Result<()> {
        while values.next().await.is_some() {
            WORKED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_function_returns_is_not_restarted() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-returns", &module("returns"));
    app.start().await.unwrap();
    let work = returns::Work.on(&app);
    for i in 0..2000u64 {
        work.send_soon("k", i).unwrap();
        returns::Ticks.on(&app).send_soon("k", i).unwrap();
    }
    assert!(eventually(WAIT, || returns::WORKED.load(Ordering::Relaxed) == 2000).await);
    assert_eq!(returns::CALLS.load(Ordering::Relaxed), 1);
    assert_eq!(app.health().agent_restarts, 0);
    assert_eq!(app.state(), AppState::Running);
    app.stop().await.unwrap();
}

/// An agent failing on every 100th record.
mod flaky {
    use super::*;

    #[topic(name = "eng-flaky", key = String, value = u64, partitions = 1)]
    pub struct Jobs;

    pub static DONE: AtomicUsize = AtomicUsize::new(0);

    #[agent(Jobs)]
    async fn work(mut values: Stream<Jobs>) -> Result<()> {
        while let Some(v) = values.next().await {
            if v % 100 == 99 {
                return Err(faust_runtime::Error::state(format!("job {v} failed")));
            }
            DONE.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_failing_on_one_event_in_100_restarts_without_a_growing_backoff() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-flaky", &module("flaky"));
    app.start().await.unwrap();
    let jobs = flaky::Jobs.on(&app);
    for i in 0..1000u64 {
        jobs.send_soon("k", i).unwrap();
    }
    // Ten failures: with the backoff of the first engine (100 ms doubling, never reset) this
    // takes over 30 s.
    assert!(
        eventually(Duration::from_secs(8), || flaky::DONE
            .load(Ordering::Relaxed)
            == 990)
        .await,
        "done {}",
        flaky::DONE.load(Ordering::Relaxed)
    );
    let h = app.health();
    assert_eq!((h.agent_errors, h.agent_restarts), (10, 10));
    assert!(
        eventually(WAIT, || broker.committed("eng-flaky", "eng-flaky", 0)
            == Some(1000))
        .await
    );
    app.stop().await.unwrap();
}

/// A topic sent to with `force` before the app starts.
mod early {
    use super::*;

    #[topic(name = "eng-early", key = String, value = u64, partitions = 3, retention = "1h")]
    pub struct Early;

    pub static SEEN: AtomicUsize = AtomicUsize::new(0);

    #[agent(Early)]
    async fn read(mut values: Stream<Early>) -> Result<()> {
        while values.next().await.is_some() {
            SEEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_send_before_start_creates_the_topic_with_its_declared_settings() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-early", &module("early"));
    let early = early::Early.on(&app);
    early
        .record(1)
        .key("a")
        .force(true)
        .send_and_wait()
        .await
        .unwrap();
    early
        .record(2)
        .key("b")
        .force(true)
        .send_soon()
        .unwrap()
        .await
        .unwrap();
    let d = broker.describe_topic("eng-early").await.unwrap().unwrap();
    assert_eq!(d.partitions, 3);
    assert_eq!(
        d.config.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    app.start().await.unwrap();
    assert!(eventually(WAIT, || early::SEEN.load(Ordering::Relaxed) == 2).await);
    app.stop().await.unwrap();
}

/// An agent batching events with `futures::StreamExt::chunks`.
mod chunked {
    use super::*;

    #[topic(name = "eng-chunks", key = String, value = u64, partitions = 1)]
    pub struct Items;

    pub static TAKEN: AtomicUsize = AtomicUsize::new(0);
    pub static RELEASE: Gate = Gate::new();

    #[agent(Items)]
    async fn batch(events: Events<Items>) -> Result<()> {
        let mut chunks = events.chunks(10);
        while let Some(batch) = chunks.next().await {
            TAKEN.fetch_add(batch.len(), Ordering::Relaxed);
            RELEASE.passed().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_of_events_commit_only_what_was_processed() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-chunks", &module("chunked"));
    app.start().await.unwrap();
    let items = chunked::Items.on(&app);
    for i in 0..25u64 {
        items.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || chunked::TAKEN.load(Ordering::Relaxed) == 10).await);
    // The first chunk is held, unprocessed: over many commit intervals nothing may commit.
    assert!(
        !eventually(Duration::from_millis(400), || broker
            .committed("eng-chunks", "eng-chunks", 0)
            .is_some())
        .await,
        "committed {:?} while the first chunk was still being processed",
        broker.committed("eng-chunks", "eng-chunks", 0)
    );
    chunked::RELEASE.open();
    assert!(eventually(WAIT, || chunked::TAKEN.load(Ordering::Relaxed) == 20).await);
    // Two chunks were processed; the last five events wait in a chunk that is not full.
    assert!(
        eventually(WAIT, || broker.committed("eng-chunks", "eng-chunks", 0)
            == Some(20))
        .await
    );
    app.stop().await.unwrap();
}

/// Four instances sharing one stream, one of them stuck on an event.
mod concurrent {
    use super::*;

    #[topic(name = "eng-conc", key = String, value = u64, partitions = 1, maxsize = 2)]
    pub struct Jobs;

    pub static DONE: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(Jobs, concurrency = 4)]
    async fn work(mut values: Stream<Jobs>) -> Result<()> {
        while let Some(v) = values.next().await {
            if v == 5 {
                RELEASE.passed().await;
            }
            DONE.lock().unwrap().push(v);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_4_completing_out_of_order_commits_the_done_prefix() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-conc", &module("concurrent"));
    app.start().await.unwrap();
    let jobs = concurrent::Jobs.on(&app);
    for i in 0..40u64 {
        jobs.send("k", i).await.unwrap();
    }
    // Offset 5 is stuck (with at most the rest of its batch); the other instances go on.
    assert!(eventually(WAIT, || concurrent::DONE.lock().unwrap().len() >= 38).await);
    assert!(!concurrent::DONE.lock().unwrap().contains(&5));
    assert!(
        eventually(WAIT, || broker.committed("eng-conc", "eng-conc", 0)
            == Some(5))
        .await
    );
    concurrent::RELEASE.open();
    assert!(
        eventually(WAIT, || broker.committed("eng-conc", "eng-conc", 0)
            == Some(40))
        .await
    );
    let mut done = concurrent::DONE.lock().unwrap().clone();
    done.sort_unstable();
    assert_eq!(done, (0..40).collect::<Vec<_>>());
    app.stop().await.unwrap();
}

/// A partition revoked while events are queued, then assigned back.
mod rebalance {
    use super::*;

    #[topic(name = "eng-rebalance", key = String, value = u64, partitions = 2, maxsize = 2)]
    pub struct Jobs;

    /// (worker, offset) of every event processed.
    pub static DONE: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(Jobs)]
    async fn work(mut events: Events<Jobs>) -> Result<()> {
        let me = App::current()?.settings().kafka.client_id.clone();
        while let Some(ev) = events.next().await {
            if me == "w1" && ev.partition == 1 && ev.offset == 2 {
                RELEASE.passed().await;
            }
            if ev.partition == 1 {
                DONE.lock().unwrap().push((me.clone(), ev.offset));
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_revoked_and_assigned_back_delivers_nothing_stale() {
    let name = unique("eng-rebalance");
    let broker = MemoryBroker::from_url(&format!("memory://{name}")).unwrap();
    let worker = |id: &str| {
        App::builder("eng-rebalance")
            .transport(Arc::new(broker.clone()))
            .include_module(module("rebalance"))
            .commit_interval(Duration::from_millis(20))
            .shutdown_timeout(Duration::from_millis(300))
            .configure(|s| s.kafka.client_id = id.into())
            .build()
            .unwrap()
    };
    let w1 = worker("w1");
    w1.start().await.unwrap();
    let jobs = rebalance::Jobs.on(&w1);
    for i in 0..10u64 {
        jobs.record(i).key("k").partition(1).send().await.unwrap();
    }
    // w1 holds offset 2 of partition 1, with later events queued behind it.
    assert!(eventually(WAIT, || rebalance::DONE.lock().unwrap().len() == 2).await);
    let w2 = worker("w2");
    w2.start().await.unwrap();
    // The revoke waits 300 ms for the held event, commits 0..2, and w2 takes over from 2.
    assert!(
        eventually(WAIT, || rebalance::DONE
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == "w2")
            .count()
            == 8)
        .await
    );
    w2.stop().await.unwrap();
    // Partition 1 comes back to w1, at the offset w2 committed.
    assert!(
        eventually(WAIT, || broker.committed(
            "eng-rebalance",
            "eng-rebalance",
            1
        ) == Some(10))
        .await
    );
    rebalance::RELEASE.open();
    // w1 finishes the event it held; nothing that was queued before the revoke follows it.
    assert!(eventually(WAIT, || rebalance::DONE.lock().unwrap().len() == 11).await);
    jobs.record(10).key("k").partition(1).send().await.unwrap();
    assert!(eventually(WAIT, || rebalance::DONE.lock().unwrap().len() == 12).await);
    let done = rebalance::DONE.lock().unwrap().clone();
    let by =
        |who: &str| -> Vec<i64> { done.iter().filter(|(w, _)| w == who).map(|d| d.1).collect() };
    assert_eq!(by("w2"), (2..10).collect::<Vec<_>>());
    assert_eq!(
        by("w1"),
        vec![0, 1, 2, 10],
        "w1 processed stale events: {done:?}"
    );
    w1.stop().await.unwrap();
}

/// Partitions added to a topic while the app runs.
mod growing {
    use super::*;

    #[topic(name = "eng-growing", key = String, value = u64)]
    pub struct Grows;

    pub static SEEN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    #[agent(Grows)]
    async fn read(mut events: Events<Grows>) -> Result<()> {
        while let Some(ev) = events.next().await {
            SEEN.lock().unwrap().push(ev.partition);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_while_running_are_picked_up() {
    let broker = MemoryBroker::new();
    let app = App::builder("eng-growing")
        .transport(Arc::new(broker.clone()))
        .include_module(module("growing"))
        .topic_partitions(2)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let t = growing::Grows.on(&app);
    t.record(1).key("a").partition(1).send().await.unwrap();
    assert!(eventually(WAIT, || growing::SEEN.lock().unwrap().len() == 1).await);
    broker.create_partitions("eng-growing", 4).await.unwrap();
    t.record(2).key("b").partition(3).send().await.unwrap();
    assert!(eventually(WAIT, || growing::SEEN.lock().unwrap().contains(&3)).await);
    assert_eq!(app.state(), AppState::Running);
    assert_eq!(t.partitions(), 4);
    app.stop().await.unwrap();
}

/// The assignment hook runs before any event of the partition reaches an agent.
mod hooked {
    use super::*;

    #[topic(name = "eng-hooked", key = String, value = u64, partitions = 2)]
    pub struct Hooked;

    pub static READY: Mutex<Vec<i32>> = Mutex::new(Vec::new());
    pub static EARLY: AtomicUsize = AtomicUsize::new(0);
    pub static SEEN: AtomicUsize = AtomicUsize::new(0);

    #[agent(Hooked)]
    async fn read(mut events: Events<Hooked>) -> Result<()> {
        while let Some(ev) = events.next().await {
            if !READY.lock().unwrap().contains(&ev.partition) {
                EARLY.fetch_add(1, Ordering::Relaxed);
            }
            SEEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assignment_hook_runs_before_any_event_of_its_partitions() {
    let broker = MemoryBroker::new();
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let seen_revoked = revoked.clone();
    let app = App::builder("eng-hooked")
        .transport(Arc::new(broker.clone()))
        .include_module(module("hooked"))
        .on_partitions_assigned(|tps| async move {
            // Something slow, as restoring a table is.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            hooked::READY
                .lock()
                .unwrap()
                .extend(tps.iter().map(|tp| tp.partition));
        })
        .on_partitions_revoked(move |tps| {
            let r = seen_revoked.clone();
            async move { r.lock().unwrap().extend(tps) }
        })
        .build()
        .unwrap();
    let t = hooked::Hooked.on(&app);
    for i in 0..50u64 {
        t.record(i)
            .key(format!("k{i}"))
            .force(true)
            .send()
            .await
            .unwrap();
    }
    app.start().await.unwrap();
    assert!(eventually(WAIT, || hooked::SEEN.load(Ordering::Relaxed) == 50).await);
    assert_eq!(hooked::EARLY.load(Ordering::Relaxed), 0);
    app.stop().await.unwrap();
}

/// A no-ack stream: only events acknowledged explicitly are committed.
mod manual {
    use super::*;

    #[topic(name = "eng-noack", key = String, value = u64, partitions = 1)]
    pub struct Items;

    pub static SEEN: AtomicUsize = AtomicUsize::new(0);

    #[agent(Items)]
    async fn pick(events: Events<Items>) -> Result<()> {
        let mut events = events.noack();
        while let Some(mut ev) = events.next().await {
            if ev.value != 3 {
                ev.ack();
            }
            SEEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noack_stream_commits_only_explicitly_acknowledged_events() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-noack", &module("manual"));
    app.start().await.unwrap();
    let items = manual::Items.on(&app);
    for i in 0..10u64 {
        items.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || manual::SEEN.load(Ordering::Relaxed) == 10).await);
    assert!(
        eventually(WAIT, || broker.committed("eng-noack", "eng-noack", 0)
            == Some(3))
        .await
    );
    app.stop().await.unwrap();
    assert_eq!(broker.committed("eng-noack", "eng-noack", 0), Some(3));
}

/// A transport whose consumer panics: the consume driver dies.
mod exploding {
    use super::*;
    use faust_runtime::transport::{Consumer, Polled, RecordSink};

    #[topic(name = "eng-explode", key = String, value = u64, partitions = 1)]
    pub struct Items;

    #[agent(Items)]
    async fn read(mut values: Stream<Items>) -> Result<()> {
        while values.next().await.is_some() {}
        Ok(())
    }

    /// The embedded broker, with consumers that panic on their first records.
    pub fn transport(broker: MemoryBroker) -> Wrapped {
        Wrapped::new(broker, |c| intercept(c, Fuse))
    }

    struct Fuse;

    impl Intercept for Fuse {
        fn poll(&mut self, inner: &mut dyn Consumer, sink: &mut dyn RecordSink) -> Result<Polled> {
            let polled = inner.poll(sink)?;
            if matches!(polled, Polled::Records(_)) {
                panic!("the consumer exploded");
            }
            Ok(polled)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_consume_driver_fails_the_app_visibly() {
    let broker = MemoryBroker::new();
    let app = App::builder("eng-explode")
        .transport(Arc::new(exploding::transport(broker.clone())))
        .include_module(module("exploding"))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    app.start().await.unwrap();
    exploding::Items.on(&app).send("k", 1).await.unwrap();
    let err = tokio::time::timeout(WAIT, app.wait())
        .await
        .expect("the app stops by itself")
        .unwrap_err();
    assert!(err.to_string().contains("the consumer exploded"), "{err}");
    let h = app.health();
    assert_eq!(h.state, AppState::Stopped);
    assert!(h.fatal.unwrap_or_default().contains("exploded"));
}

/// A slow agent with a deep queue, stopped.
mod slow {
    use super::*;

    #[topic(name = "eng-slow", key = String, value = u64, partitions = 1)]
    pub struct Items;

    pub static DONE: Mutex<Vec<i64>> = Mutex::new(Vec::new());

    #[agent(Items)]
    async fn crawl(mut events: Events<Items>) -> Result<()> {
        while let Some(ev) = events.next().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            DONE.lock().unwrap().push(ev.offset);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_to_the_shutdown_timeout_and_processes_nothing_after_the_final_commit() {
    let broker = MemoryBroker::new();
    let app = App::builder("eng-slow")
        .transport(Arc::new(broker.clone()))
        .include_module(module("slow"))
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let items = slow::Items.on(&app);
    for i in 0..500u64 {
        items.send_soon("k", i).unwrap();
    }
    assert!(eventually(WAIT, || slow::DONE.lock().unwrap().len() >= 3).await);
    let started = std::time::Instant::now();
    app.stop().await.unwrap();
    let took = started.elapsed();
    // 500 queued events at 20 ms each would take 10 s; the first engine drained them all.
    assert!(took < Duration::from_secs(4), "stop took {took:?}");
    let done = slow::DONE.lock().unwrap().clone();
    let committed = broker.committed("eng-slow", "eng-slow", 0).unwrap();
    assert_eq!(
        done,
        (0..committed).collect::<Vec<_>>(),
        "exactly the committed offsets were processed, nothing after them"
    );
    assert!(committed < 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_defined_at_runtime_are_created_with_their_settings_and_used_typed() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "eng-defined", &module("manual"));
    let before = app
        .topic::<String, u64>("eng-defined-before")
        .partitions(3)
        .config("segment.bytes", "1048576")
        .build()
        .unwrap();
    assert_eq!(before.key_type(), std::any::type_name::<String>());
    assert_eq!(before.value_type(), "u64");
    app.start().await.unwrap();
    // Defined before start: created at startup with its settings.
    let d = broker
        .describe_topic("eng-defined-before")
        .await
        .unwrap()
        .expect("created at startup");
    assert_eq!(d.partitions, 3);
    assert_eq!(
        d.config.get("segment.bytes").map(String::as_str),
        Some("1048576")
    );
    let again = app
        .topic::<String, u64>("eng-defined-before")
        .build()
        .unwrap();
    assert_eq!(
        again.partitions(),
        3,
        "a second definition returns the first"
    );

    // Defined while running: created on first use.
    let later = app
        .topic::<String, u64>("eng-defined-later")
        .partitions(2)
        .build()
        .unwrap();
    let meta = later.send_and_wait("a", 7).await.unwrap();
    assert_eq!(meta.topic, "eng-defined-later");
    later.send("b", 8).await.unwrap().await.unwrap();
    let d = broker
        .describe_topic("eng-defined-later")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.partitions, 2);
    let mut values: Vec<u64> = StreamExt::take(later.stream(), 2).collect().await;
    values.sort_unstable();
    assert_eq!(values, vec![7, 8]);
    app.stop().await.unwrap();
}
