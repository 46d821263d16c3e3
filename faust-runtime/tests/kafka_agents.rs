//! Agent handles and agent features on the Kafka-protocol test broker: request-reply between two
//! apps (the requests committed once answered), `concurrency = 4` sharing one stream, and an
//! `on_leader` timer with two workers.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use common::{kafka_url, unique};
use faust_runtime::prelude::*;
use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, TopicPartition, Transport};
use faust_runtime::Error;
use std::time::Duration;

/// Long enough for group joins (~3 s each with the default session timeout) plus the work.
const WAIT: Duration = Duration::from_secs(60);

fn app(url: &str, id: &str, module: Option<&str>) -> App {
    let mut b = App::builder(id)
        .broker(url)
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10));
    b = match module {
        Some(m) => b.include_module(module_path!().to_string() + "::" + m),
        // A client: no agents of this file.
        None => b.include_module(module_path!().to_string() + "::nothing"),
    };
    b.build().unwrap()
}

#[allow(dead_code)]
mod nothing {}

/// Deletes a topic left by an earlier run on the same broker.
async fn fresh_topic(url: &str, name: &str) {
    let s = Settings::default();
    let t = KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    match t.delete_topic(name).await {
        Ok(()) | Err(Error::UnknownTopic(_)) => {}
        Err(e) => panic!("cannot delete {name}: {e}"),
    }
}

/// The offsets group `group` committed for `partitions` partitions of `topic`.
async fn committed(url: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let s = Settings::default();
    let t = KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    let mut c = t
        .consumer(ConsumerConfig {
            group_id: group.to_string(),
            topics: vec![topic.to_string()],
            from_earliest: true,
        })
        .await
        .unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition {
            topic: topic.to_string(),
            partition: p,
        })
        .collect();
    c.committed(&tps).await.unwrap()
}

mod doubler {
    use super::*;

    #[topic(name = "ka-numbers", key = String, value = u64, partitions = 2)]
    pub struct Numbers;

    #[agent(Numbers, handle = Doubler)]
    pub async fn double(mut stream: Stream<Numbers>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            out.send(n * 2).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_asks_an_agent_of_another_and_the_answered_requests_are_committed() {
    let url = kafka_or_skip!();
    fresh_topic(&url, "ka-numbers").await;
    let group = unique("ka-server");
    let server = app(&url, &group, Some("doubler"));
    server.start().await.unwrap();
    // A client: built, not started (it has nothing to run), asking.
    let client = app(&url, &unique("ka-client"), None);

    let doubler = doubler::Doubler.on(&client).timeout(WAIT);
    assert_eq!(doubler.ask_key("a", 21).await.unwrap(), 42);
    let joined = doubler.join([1, 2, 3, 4]).await.unwrap();
    assert_eq!(joined, [2, 4, 6, 8]);
    client.stop().await.unwrap();
    server.stop().await.unwrap();

    let offsets = committed(&url, &group, "ka-numbers", 2).await;
    let total: i64 = offsets.iter().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 5, "every answered request is committed: {offsets:?}");
}

fn worker_of(app: &App) -> usize {
    std::sync::Arc::as_ptr(app.transport()) as *const () as usize
}

static LEADER_RUNS: std::sync::Mutex<Option<std::collections::HashMap<usize, u64>>> =
    std::sync::Mutex::new(None);

fn leader_runs(app: &App) -> u64 {
    LEADER_RUNS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&worker_of(app)).copied())
        .unwrap_or(0)
}

mod leader {
    use super::*;

    #[timer(interval = "50ms", on_leader = true)]
    async fn only_on_the_leader() -> Result<()> {
        let me = worker_of(&App::current()?);
        *LEADER_RUNS
            .lock()
            .unwrap()
            .get_or_insert_with(std::collections::HashMap::new)
            .entry(me)
            .or_default() += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_one_of_two_workers_leads_and_the_other_takes_over_when_it_stops() {
    let url = kafka_or_skip!();
    let id = unique("ka-leader");
    let a = app(&url, &id, Some("leader"));
    let b = app(&url, &id, Some("leader"));
    a.start().await.unwrap();
    b.start().await.unwrap();
    assert!(
        common::eventually(WAIT, || a.is_leader() != b.is_leader()).await,
        "exactly one worker leads: a {} b {}",
        a.is_leader(),
        b.is_leader()
    );
    let (leader, other) = if a.is_leader() { (a, b) } else { (b, a) };
    assert!(common::eventually(WAIT, || leader_runs(&leader) >= 3).await);
    assert_eq!(leader_runs(&other), 0, "the other worker never ran it");

    leader.stop().await.unwrap();
    assert!(
        common::eventually(WAIT, || other.is_leader()).await,
        "the remaining worker takes over"
    );
    assert!(common::eventually(WAIT, || leader_runs(&other) >= 3).await);
    other.stop().await.unwrap();
}

static SEEN: std::sync::Mutex<Vec<(u64, tokio::task::Id)>> = std::sync::Mutex::new(Vec::new());

mod concurrent {
    use super::*;

    #[topic(name = "ka-concurrent", key = String, value = u64, partitions = 2)]
    pub struct Work;

    #[agent(Work, concurrency = 4)]
    async fn work(mut stream: Stream<Work>) {
        while let Some(v) = stream.next().await {
            // Uneven work, so that instances finish out of order.
            for _ in 0..(v % 5) * 20 {
                tokio::task::yield_now().await;
            }
            SEEN.lock().unwrap().push((v, tokio::task::id()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_four_instances_share_the_stream_and_commit_only_finished_work() {
    let url = kafka_or_skip!();
    fresh_topic(&url, "ka-concurrent").await;
    let group = unique("ka-concurrent");
    let app = app(&url, &group, Some("concurrent"));
    app.start().await.unwrap();
    let work = concurrent::Work.on(&app);
    for i in 0..400u64 {
        work.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(common::eventually(WAIT, || SEEN.lock().unwrap().len() >= 400).await);
    app.stop().await.unwrap();

    let seen = SEEN.lock().unwrap().clone();
    let mut values: Vec<u64> = seen.iter().map(|(v, _)| *v).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 400, "every value processed");
    let instances: std::collections::HashSet<_> = seen.iter().map(|(_, t)| *t).collect();
    assert!(instances.len() > 1, "the work was shared: {instances:?}");
    let offsets = committed(&url, &group, "ka-concurrent", 2).await;
    let total: i64 = offsets.iter().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 400, "everything processed is committed: {offsets:?}");
}

/// Instances of the isolated agent running now, per worker.
static ISO_LIVE: std::sync::Mutex<Option<std::collections::HashMap<usize, i64>>> =
    std::sync::Mutex::new(None);
static ISO_SEEN: std::sync::Mutex<Vec<(i32, tokio::task::Id)>> = std::sync::Mutex::new(Vec::new());

fn iso_live_change(app: &App, by: i64) {
    *ISO_LIVE
        .lock()
        .unwrap()
        .get_or_insert_with(std::collections::HashMap::new)
        .entry(worker_of(app))
        .or_default() += by;
}

fn iso_live(app: &App) -> i64 {
    ISO_LIVE
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&worker_of(app)).copied())
        .unwrap_or(0)
}

mod isolated {
    use super::*;

    #[topic(name = "ka-isolated", key = String, value = u64, partitions = 4)]
    pub struct In;

    #[agent(In, isolated_partitions = true)]
    async fn per_partition(mut events: Events<In>) {
        let app = App::current().unwrap();
        iso_live_change(&app, 1);
        while let Some(e) = events.next().await {
            ISO_SEEN
                .lock()
                .unwrap()
                .push((e.partition, tokio::task::id()));
        }
        iso_live_change(&app, -1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_isolated_instances_follow_the_assignment_of_two_workers() {
    let url = kafka_or_skip!();
    fresh_topic(&url, "ka-isolated").await;
    let group = unique("ka-isolated");
    let a = app(&url, &group, Some("isolated"));
    a.start().await.unwrap();
    let input = isolated::In.on(&a);
    for i in 0..200u64 {
        input.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(common::eventually(WAIT, || ISO_SEEN.lock().unwrap().len() >= 200).await);
    assert!(common::eventually(WAIT, || iso_live(&a) == 4).await);
    let b = app(&url, &group, Some("isolated"));
    b.start().await.unwrap();
    for i in 200..400u64 {
        input.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(
        common::eventually(WAIT, || iso_live(&a) + iso_live(&b) == 4
            && iso_live(&b) > 0)
        .await,
        "the partitions moved with their instances: a {} b {}",
        iso_live(&a),
        iso_live(&b)
    );
    assert!(common::eventually(WAIT, || ISO_SEEN.lock().unwrap().len() >= 400).await);
    b.stop().await.unwrap();
    a.stop().await.unwrap();
    let mut tasks_of: std::collections::HashMap<tokio::task::Id, std::collections::HashSet<i32>> =
        Default::default();
    for (p, t) in ISO_SEEN.lock().unwrap().iter() {
        tasks_of.entry(*t).or_default().insert(*p);
    }
    assert!(
        tasks_of.values().all(|ps| ps.len() == 1),
        "every instance read one partition: {tasks_of:?}"
    );
    let offsets = committed(&url, &group, "ka-isolated", 4).await;
    let total: i64 = offsets.iter().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 400, "{offsets:?}");
}

/// An agent declared without a topic: it reads `{app_id}-triple`.
mod tripler {
    use super::*;

    #[agent(handle = Tripler, key = String, value = u64)]
    pub async fn triple(mut stream: Stream<Tripler>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            out.send(n * 3).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_an_agent_without_a_topic_gets_its_own_prefixed_topic() {
    let url = kafka_or_skip!();
    let id = unique("ka-own");
    let topic = format!("{id}-triple");
    let server = app(&url, &id, Some("tripler"));
    server.start().await.unwrap();
    let created = server.topics().describe_topic(&topic).await.unwrap();
    assert_eq!(
        created.map(|d| d.partitions),
        Some(server.settings().topic_partitions),
        "{topic} is created at startup with the app's default partitions"
    );

    let tripler = tripler::Tripler.on(&server).timeout(WAIT);
    assert_eq!(tripler.topic_name(), topic);
    assert_eq!(tripler.ask_key("a", 5).await.unwrap(), 15);
    tripler.send("b", 1).await.unwrap().await.unwrap();
    assert_eq!(tripler.ask(7).await.unwrap(), 21);
    server.stop().await.unwrap();

    let partitions = server.settings().topic_partitions;
    let offsets = committed(&url, &id, &topic, partitions).await;
    let total: i64 = offsets.iter().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(
        total, 3,
        "the three records read are committed: {offsets:?}"
    );
}

/// One agent reading every topic matching `^kpt-events-.*`.
mod pattern {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// (topic, partition) -> values in the order read.
    pub static SEEN: Mutex<BTreeMap<(String, i32), Vec<u64>>> = Mutex::new(BTreeMap::new());

    #[topic(pattern = "^kpt-events-.*", key = String, value = u64)]
    pub struct AllEvents;

    #[agent(AllEvents)]
    pub async fn collect(stream: Stream<AllEvents>) -> Result<()> {
        let mut events = stream.events();
        while let Some(ev) = events.next().await {
            SEEN.lock()
                .unwrap()
                .entry((ev.topic.to_string(), ev.partition))
                .or_default()
                .push(ev.value);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_a_pattern_reads_every_matching_topic_also_one_created_after_start() {
    let url = kafka_or_skip!();
    let run = unique("r");
    let (eu, asia) = (
        format!("kpt-events-{run}-eu"),
        format!("kpt-events-{run}-asia"),
    );
    let id = unique("ka-pattern");
    let app = app(&url, &id, Some("pattern"));
    let eu_topic = faust_runtime::create_topic::<String, u64>(&app, &eu, 2, 1, &[])
        .await
        .unwrap();
    for v in 0..10u64 {
        eu_topic
            .record(v)
            .key("k")
            .partition((v % 2) as i32)
            .force(true)
            .send_and_wait()
            .await
            .unwrap();
    }
    app.start().await.unwrap();
    let ours = |topic: &str| -> usize {
        pattern::SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, v)| v.len())
            .sum()
    };
    assert!(
        common::eventually(WAIT, || ours(&eu) == 10).await,
        "read {} of 10 on {eu}",
        ours(&eu)
    );

    // Created after the start: found at the consumer's next metadata refresh.
    let asia_topic = faust_runtime::create_topic::<String, u64>(&app, &asia, 1, 1, &[])
        .await
        .unwrap();
    for v in 100..105u64 {
        asia_topic.record(v).key("k").send_and_wait().await.unwrap();
    }
    assert!(
        common::eventually(WAIT, || ours(&asia) == 5).await,
        "read {} of 5 on {asia}",
        ours(&asia)
    );
    {
        let seen = pattern::SEEN.lock().unwrap();
        assert_eq!(
            seen[&(eu.clone(), 0)],
            [0, 2, 4, 6, 8],
            "in order per partition"
        );
        assert_eq!(seen[&(eu.clone(), 1)], [1, 3, 5, 7, 9]);
        assert_eq!(seen[&(asia.clone(), 0)], [100, 101, 102, 103, 104]);
    }
    app.stop().await.unwrap();
    // Committed per topic-partition.
    let offsets = committed(&url, &id, &eu, 2).await;
    assert_eq!(offsets, [Some(5), Some(5)], "{eu}");
    let offsets = committed(&url, &id, &asia, 1).await;
    assert_eq!(offsets, [Some(5)], "{asia}");
}
