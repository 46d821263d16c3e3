//! Pattern subscriptions on the embedded broker: `#[topic(pattern = "^...")]` gives one agent
//! every matching topic, also one created after the worker started; order is kept within each
//! partition and offsets are committed per topic-partition. A pattern cannot be sent to.

mod common;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::transport::NewTopic;
use faust_runtime::{MemoryBroker, Transport};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
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

/// What the agent saw: (topic, partition) -> [(offset, value)] in the order it read them.
type Seen = BTreeMap<(String, i32), Vec<(i64, u64)>>;

mod events {
    use super::*;

    pub static SEEN: Mutex<Seen> = Mutex::new(BTreeMap::new());

    #[topic(pattern = "^pt-events-.*", key = String, value = u64)]
    pub struct AllEvents;

    #[agent(AllEvents)]
    pub async fn collect(stream: Stream<AllEvents>) -> Result<()> {
        let mut events = stream.events();
        while let Some(ev) = events.next().await {
            SEEN.lock()
                .unwrap()
                .entry((ev.topic.to_string(), ev.partition))
                .or_default()
                .push((ev.offset, ev.value));
        }
        Ok(())
    }
}

fn seen_count() -> usize {
    events::SEEN.lock().unwrap().values().map(Vec::len).sum()
}

async fn create(broker: &MemoryBroker, name: &str, partitions: i32) -> faust_runtime::Result<()> {
    broker
        .create_topic(&NewTopic {
            name: name.to_string(),
            partitions,
            replication_factor: 1,
            config: Default::default(),
        })
        .await
}

async fn produce(app: &App, topic: &str, partition: i32, values: std::ops::Range<u64>) {
    let t = app.topic::<String, u64>(topic).build().unwrap();
    for v in values {
        t.record(v)
            .key(format!("k{v}"))
            .partition(partition)
            .force(true)
            .send_and_wait()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_reads_every_matching_topic_also_one_created_later_and_commits_each() {
    let broker = MemoryBroker::new();
    create(&broker, "pt-events-eu", 2).await.unwrap();
    create(&broker, "pt-events-us", 1).await.unwrap();
    create(&broker, "pt-other", 1).await.unwrap();
    let id = unique("pt");
    let app = app(&broker, &id, &module("events"));
    // Records already there before the worker starts are read from the start.
    produce(&app, "pt-events-eu", 0, 0..20).await;
    produce(&app, "pt-other", 0, 0..5).await;
    app.start().await.unwrap();
    produce(&app, "pt-events-eu", 1, 100..130).await;
    produce(&app, "pt-events-us", 0, 200..210).await;
    assert!(
        eventually(WAIT, || seen_count() == 60).await,
        "saw {} of 60 before the new topic",
        seen_count()
    );

    // A topic created after the start is picked up, its earlier records included.
    create(&broker, "pt-events-asia", 3).await.unwrap();
    produce(&app, "pt-events-asia", 2, 300..305).await;
    produce(&app, "pt-events-asia", 0, 400..402).await;
    assert!(
        eventually(WAIT, || seen_count() == 67).await,
        "saw {} of 67 after the new topic: {:?}",
        seen_count(),
        events::SEEN.lock().unwrap().keys().collect::<Vec<_>>()
    );

    let seen = events::SEEN.lock().unwrap().clone();
    let keys: Vec<(String, i32)> = seen.keys().cloned().collect();
    let expected: Vec<(String, i32)> = [
        ("pt-events-asia", 0),
        ("pt-events-asia", 2),
        ("pt-events-eu", 0),
        ("pt-events-eu", 1),
        ("pt-events-us", 0),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), *p))
    .collect();
    assert_eq!(keys, expected, "the matching topics only");
    // In order within each partition: offsets 0.. and the values as produced.
    let firsts = [
        ("pt-events-asia", 0, 400),
        ("pt-events-asia", 2, 300),
        ("pt-events-eu", 0, 0),
        ("pt-events-eu", 1, 100),
        ("pt-events-us", 0, 200),
    ];
    for (topic, partition, first) in firsts {
        let got = &seen[&(topic.to_string(), partition)];
        let want: Vec<(i64, u64)> = (0..got.len() as i64)
            .map(|i| (i, first + i as u64))
            .collect();
        assert_eq!(got, &want, "{topic}[{partition}] in order");
    }

    // Offsets committed per topic-partition, up to each one's end.
    for (topic, partition) in &expected {
        let end = broker.end_offset(topic, *partition).unwrap();
        assert!(
            eventually(WAIT, || broker.committed(&id, topic, *partition)
                == Some(end))
            .await,
            "{topic}[{partition}] committed {:?}, end {end}",
            broker.committed(&id, topic, *partition)
        );
    }
    assert_eq!(broker.committed(&id, "pt-other", 0), None);
    // Nothing was created for the pattern itself.
    assert!(app
        .topics()
        .list_topics()
        .await
        .unwrap()
        .iter()
        .all(|t| !t.name.starts_with('^')));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn sending_to_a_pattern_is_refused() {
    let app = App::builder(unique("pt-send")).build().unwrap();
    // The handle itself has no `send` (a compile error, see ui-tests); generic code reaching
    // the topic API is refused at run time.
    let err = faust_runtime::TopicApi::<events::AllEvents>::UNBOUND
        .on(&app)
        .record(1)
        .force(true)
        .send()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pattern ^pt-events-.*") && err.contains("send to one of them"),
        "{err}"
    );
}

mod dead_letters {
    use super::*;

    #[topic(pattern = "^pt-dlq-.*", value = u64, on_error = "dead_letter")]
    pub struct Unnamed;

    #[agent(Unnamed)]
    pub async fn read(mut stream: Stream<Unnamed>) -> Result<()> {
        while stream.next().await.is_some() {}
        Ok(())
    }
}

#[tokio::test]
async fn a_dead_lettering_pattern_must_name_its_dead_letter_topic() {
    let broker = MemoryBroker::new();
    let app = app(&broker, &unique("pt-dlq"), &module("dead_letters"));
    let err = app.start().await.unwrap_err().to_string();
    assert!(
        err.contains("^pt-dlq-.*") && err.contains("dead_letter = "),
        "{err}"
    );
}
