//! Builder hooks on the embedded broker: `on_startup` runs before any agent consumes (and can
//! fail the start), `on_shutdown` after the agents stopped and committed, still able to send.

mod common;

use common::eventually;
use faust_runtime::prelude::*;
use faust_runtime::{AppState, Error, MemoryBroker};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

static PROCESSED: AtomicU64 = AtomicU64::new(0);

mod counting {
    use super::*;

    #[topic(name = "hk-in", key = String, value = u64, partitions = 1)]
    pub struct In;

    #[topic(name = "hk-bye", key = String, value = String, partitions = 1)]
    pub struct Bye;

    #[agent(In)]
    async fn count(mut stream: Stream<In>) {
        while stream.next().await.is_some() {
            PROCESSED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_runs_before_agents_consume_and_shutdown_after_they_stopped() {
    let broker = MemoryBroker::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let b2 = broker.clone();
    let app = App::builder("hk-app")
        .transport(Arc::new(broker.clone()))
        .include_module(format!("{}::counting", module_path!()))
        .commit_interval(Duration::from_millis(20))
        .on_startup(move |app: App| {
            let seen = s1.clone();
            async move {
                // Records are waiting; no agent has read one yet.
                for i in 0..5u64 {
                    counting::In
                        .on(&app)
                        .record(i)
                        .key("k")
                        .force(true)
                        .send_and_wait()
                        .await?;
                }
                seen.lock().unwrap().push(format!(
                    "startup processed={}",
                    PROCESSED.load(Ordering::Relaxed)
                ));
                Ok::<(), Error>(())
            }
        })
        .on_shutdown(move |app: App| {
            let seen = s2.clone();
            let broker = b2.clone();
            async move {
                seen.lock().unwrap().push(format!(
                    "shutdown state={:?} committed={:?}",
                    app.state(),
                    broker.committed("hk-app", "hk-in", 0)
                ));
                counting::Bye.on(&app).send("k", "bye".to_string()).await?;
                Ok::<(), Error>(())
            }
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(eventually(WAIT, || PROCESSED.load(Ordering::Relaxed) == 5).await);
    assert!(eventually(WAIT, || broker.committed("hk-app", "hk-in", 0) == Some(5)).await);
    app.stop().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "startup processed=0".to_string(),
            "shutdown state=Stopping committed=Some(5)".to_string()
        ]
    );
    assert_eq!(
        broker.end_offset("hk-bye", 0).unwrap(),
        1,
        "the shutdown hook's send was delivered"
    );
    assert_eq!(app.state(), AppState::Stopped);
}

#[tokio::test]
async fn a_failing_startup_hook_fails_the_start() {
    let app = App::builder("hk-fail")
        .include_module(format!("{}::counting", module_path!()))
        .on_startup(|_app: App| async { Err::<(), _>(Error::state("no database")) })
        .build()
        .unwrap();
    let err = app.start().await.unwrap_err().to_string();
    assert!(err.contains("a startup hook failed: no database"), "{err}");
    assert_eq!(app.state(), AppState::Stopped);
}
