//! Agents declared without a topic on the embedded broker: each reads its own topic
//! `{app_id}-{agent_name}` (Faust's naming), created at startup with the app's defaults; its
//! handle's `send`, `cast` and `ask` go there, and what it read is committed there.

mod common;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn app(broker: &MemoryBroker, id: &str, module: &str) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module)
        .topic_partitions(3)
        .commit_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn module(m: &str) -> String {
    format!("{}::{m}", module_path!())
}

/// An agent without a topic that sums what it is sent and answers requests with the sum so far.
mod summer {
    use super::*;

    pub static TOTAL: AtomicU64 = AtomicU64::new(0);

    #[agent(handle = Summer, key = String, value = u64)]
    pub async fn sum(mut stream: Stream<Summer>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            let total = TOTAL.fetch_add(n, Ordering::SeqCst) + n;
            out.send(total).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_topic_reads_its_own_app_prefixed_topic() {
    let broker = MemoryBroker::new();
    let id = unique("at-own");
    let app = app(&broker, &id, &module("summer"));
    app.start().await.unwrap();
    let topic = format!("{id}-sum");

    // Created at startup, with the app's default partition count.
    let created = app.topics().describe_topic(&topic).await.unwrap();
    assert_eq!(created.map(|d| d.partitions), Some(3), "{topic} at startup");
    assert!(
        app.topics().describe_topic("sum").await.unwrap().is_none(),
        "the bare agent name is not a topic"
    );

    // The app's graph names the topic as the broker knows it.
    let graph = faust_runtime::topology::Topology::of(&app).unwrap();
    let node = format!("topic:{topic}");
    assert!(
        graph.has_edge(&node, "agent:sum", faust_runtime::topology::EdgeKind::Reads),
        "{:?}",
        graph.edges
    );

    let summer = summer::Summer.on(&app);
    assert_eq!(summer.topic_name(), topic);
    summer.send("a", 1).await.unwrap().await.unwrap();
    summer.cast(2).await.unwrap();
    assert!(
        eventually(WAIT, || summer::TOTAL.load(Ordering::SeqCst) == 3).await,
        "sent and cast values were read: total {}",
        summer::TOTAL.load(Ordering::SeqCst)
    );
    assert_eq!(summer.ask(4).await.unwrap(), 7);

    // Every record landed on the agent's topic (the keyed one on its key's partition), and
    // all three are committed there.
    let landed: i64 = (0..3).map(|p| broker.end_offset(&topic, p).unwrap()).sum();
    assert_eq!(landed, 3);
    let committed = || {
        (0..3)
            .map(|p| broker.committed(&id, &topic, p).unwrap_or(0))
            .sum::<i64>()
    };
    assert!(
        eventually(WAIT, || committed() == 3).await,
        "committed {} of 3 on {topic}",
        committed()
    );
    app.stop().await.unwrap();
}

/// An agent without a topic that counts the values it reads.
mod counter {
    use super::*;

    pub static SEEN: AtomicU64 = AtomicU64::new(0);

    #[agent(handle = Counter, value = String, name = "audit.count")]
    pub async fn count(mut stream: Stream<Counter>) -> Result<()> {
        while let Some(_word) = stream.next().await {
            SEEN.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_prefixes_the_agent_topic_with_its_own_id() {
    let broker = MemoryBroker::new();
    let (first, second) = (unique("at-one"), unique("at-two"));
    let a = app(&broker, &first, &module("counter"));
    let b = app(&broker, &second, &module("counter"));
    a.start().await.unwrap();
    b.start().await.unwrap();
    // The agent's name, as given (a Faust agent's is `module.function`), follows the app id.
    assert_eq!(
        counter::Counter.on(&a).topic_name(),
        format!("{first}-audit.count")
    );
    assert_eq!(
        counter::Counter.on(&b).topic_name(),
        format!("{second}-audit.count")
    );

    counter::Counter.on(&a).cast("x".into()).await.unwrap();
    counter::Counter.on(&b).cast("y".into()).await.unwrap();
    counter::Counter.on(&b).cast("z".into()).await.unwrap();
    assert!(
        eventually(WAIT, || counter::SEEN.load(Ordering::SeqCst) == 3).await,
        "seen {}",
        counter::SEEN.load(Ordering::SeqCst)
    );
    let on = |topic: String| -> i64 { (0..3).map(|p| broker.end_offset(&topic, p).unwrap()).sum() };
    assert_eq!(on(format!("{first}-audit.count")), 1);
    assert_eq!(on(format!("{second}-audit.count")), 2);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// An agent without a topic that doubles what it is asked.
mod doubler {
    use super::*;

    #[agent(handle = Doubler, value = u64)]
    pub async fn double(mut stream: Stream<Doubler>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            out.send(n * 2).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_app_of_the_same_id_asks_the_agent_on_its_topic() {
    let broker = MemoryBroker::new();
    let id = unique("at-client");
    let worker = app(&broker, &id, &module("doubler"));
    worker.start().await.unwrap();
    // A client of the same id, never started (Faust's `ask` from a client): it sends to the
    // worker's agent topic, not to one of its own.
    let client = App::builder(&id)
        .transport(Arc::new(broker.clone()))
        .build()
        .unwrap();
    assert_eq!(doubler::Doubler.on(&client).ask(21).await.unwrap(), 42);
    let landed: i64 = (0..3)
        .map(|p| broker.end_offset(&format!("{id}-double"), p).unwrap())
        .sum();
    assert_eq!(landed, 1);
    worker.stop().await.unwrap();
}
