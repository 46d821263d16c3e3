//! A topic that disappears from the broker while the worker runs (deleted, or a broker that
//! lost its data) is reported and recreated, or stops the worker, per `on_missing_topic`.

mod common;

use common::eventually;
use faust_runtime::prelude::*;
use faust_runtime::{AppState, MemoryBroker, MissingTopicPolicy, Transport};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

mod vanishing {
    use super::*;

    #[topic(name = "mt-vanishing", key = String, value = u64, partitions = 2, retention = "1h")]
    pub struct Items;

    pub static SEEN: AtomicUsize = AtomicUsize::new(0);

    #[agent(Items)]
    async fn read(mut values: Stream<Items>) -> Result<()> {
        while values.next().await.is_some() {
            SEEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn app(broker: &MemoryBroker, id: &str, policy: MissingTopicPolicy) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(format!("{}::vanishing", module_path!()))
        .configure(|s| {
            s.topic_check_interval = Duration::from_millis(50);
            s.on_missing_topic = policy;
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_is_recreated_with_its_settings_and_processing_resumes() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "mt-recreate", MissingTopicPolicy::Recreate);
    app.start().await.unwrap();
    let items = vanishing::Items.on(&app);
    for i in 0..5u64 {
        items.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || vanishing::SEEN.load(Ordering::Relaxed) == 5).await);

    broker.delete_topic("mt-vanishing").await.unwrap();
    assert!(eventually(WAIT, || app.health().recreated_topics == 1).await);
    let d = broker
        .describe_topic("mt-vanishing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.partitions, 2);
    assert_eq!(
        d.config.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert!(app.health().missing_topics.is_empty());

    for i in 0..5u64 {
        items.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || vanishing::SEEN.load(Ordering::Relaxed) == 10).await);
    assert_eq!(app.state(), AppState::Running);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_missing_topic_stop_the_worker_stops_naming_the_topic() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "mt-stop", MissingTopicPolicy::Stop);
    app.start().await.unwrap();
    broker.delete_topic("mt-vanishing").await.unwrap();
    let err = tokio::time::timeout(WAIT, app.wait())
        .await
        .expect("the worker stops by itself")
        .unwrap_err();
    assert!(err.to_string().contains("mt-vanishing"), "{err}");
    assert!(err.to_string().contains("on_missing_topic"), "{err}");
    let h = app.health();
    assert_eq!(h.missing_topics, vec!["mt-vanishing".to_string()]);
}
