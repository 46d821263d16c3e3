//! A consumer that lost its partitions and whose group join then never completes (what a
//! broker that restarted without its group state can do) joins its group again after
//! `group_join_timeout`; the worker then processes what arrived meanwhile.

mod common;
#[path = "common/wrapped.rs"]
mod wrapped;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::transport::{Consumer, Polled, Rebalance, RecordSink};
use faust_runtime::{MemoryBroker, TopicPartition, Transport};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use wrapped::{intercept, Intercept, Wrapped};

const WAIT: Duration = Duration::from_secs(15);

/// What the test does to the consumer, and what it saw.
#[derive(Default)]
struct Control {
    /// Report the assignment lost at the next poll; no new one comes until a rejoin.
    lose: AtomicBool,
    wake: Notify,
    rejoins: AtomicU64,
}

impl Control {
    fn lose(&self) {
        self.lose.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// A consumer whose group join, after a lost assignment, completes only once it rejoins.
struct StuckJoin {
    ctl: Arc<Control>,
    held: Vec<TopicPartition>,
    lost: Vec<TopicPartition>,
    next: Option<Rebalance>,
}

#[async_trait::async_trait]
impl Intercept for StuckJoin {
    fn poll(&mut self, inner: &mut dyn Consumer, sink: &mut dyn RecordSink) -> Result<Polled> {
        if let Some(r) = self.next.take() {
            if let Rebalance::Assigned(tps) = &r {
                self.held.extend(tps.iter().cloned());
            }
            return Ok(Polled::Rebalance(r));
        }
        if self.ctl.lose.swap(false, Ordering::SeqCst) {
            self.lost = std::mem::take(&mut self.held);
            return Ok(Polled::Rebalance(Rebalance::Lost(self.lost.clone())));
        }
        let polled = inner.poll(sink)?;
        match &polled {
            Polled::Rebalance(Rebalance::Assigned(tps)) => self.held.extend(tps.iter().cloned()),
            Polled::Rebalance(Rebalance::Revoked(tps) | Rebalance::Lost(tps)) => {
                self.held.retain(|tp| !tps.contains(tp))
            }
            _ => {}
        }
        Ok(polled)
    }

    async fn ready(&mut self, inner: &mut dyn Consumer) {
        if self.next.is_some() || self.ctl.lose.load(Ordering::SeqCst) {
            return;
        }
        tokio::select! {
            _ = inner.ready() => {}
            _ = self.ctl.wake.notified() => {}
        }
    }

    async fn rejoin(&mut self, _inner: &mut dyn Consumer) -> Result<()> {
        self.ctl.rejoins.fetch_add(1, Ordering::SeqCst);
        // The new join completes: the group hands the partitions back.
        let mut back = std::mem::take(&mut self.lost);
        back.append(&mut self.held);
        self.next = Some(Rebalance::Assigned(back));
        Ok(())
    }
}

fn transport(broker: &MemoryBroker, ctl: &Arc<Control>) -> Arc<dyn Transport> {
    let ctl = ctl.clone();
    Arc::new(Wrapped::new(broker.clone(), move |c| {
        intercept(
            c,
            StuckJoin {
                ctl: ctl.clone(),
                held: Vec::new(),
                lost: Vec::new(),
                next: None,
            },
        )
    }))
}

mod lost {
    use super::*;

    #[topic(name = "rejoin-lost", key = String, value = u64, partitions = 1)]
    pub struct Items;

    /// Distinct values processed (a lost assignment may have some processed twice).
    pub static SEEN: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

    pub fn seen() -> usize {
        SEEN.lock().unwrap().len()
    }

    #[agent(Items)]
    async fn count(mut values: Stream<Items>) -> Result<()> {
        while let Some(v) = values.next().await {
            SEEN.lock().unwrap().insert(v);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_that_never_completes_after_a_lost_assignment_is_retried() {
    let broker = MemoryBroker::new();
    let ctl = Arc::new(Control::default());
    let app = App::builder(unique("rejoin-lost"))
        .transport(transport(&broker, &ctl))
        .include_module(format!("{}::lost", module_path!()))
        .commit_interval(Duration::from_millis(20))
        .configure(|s| s.group_join_timeout = Duration::from_millis(500))
        .build()
        .unwrap();
    app.start().await.unwrap();
    for i in 0..3 {
        lost::Items.on(&app).send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || lost::seen() == 3).await);
    assert_eq!(app.health().group_rejoins, 0);

    ctl.lose();
    for i in 3..6 {
        lost::Items.on(&app).send("k", i).await.unwrap();
    }
    // Processed only once the consumer rejoined and got its partition back.
    assert!(
        eventually(WAIT, || lost::seen() == 6).await,
        "the records sent after the lost assignment were not processed: {:?}",
        lost::SEEN.lock().unwrap()
    );
    assert_eq!(ctl.rejoins.load(Ordering::SeqCst), 1);
    assert_eq!(app.health().group_rejoins, 1);
    app.stop().await.unwrap();
}
