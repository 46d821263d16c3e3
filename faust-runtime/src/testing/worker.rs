//! [`TestWorker`]: one worker (group member) of an app running on a
//! [`crate::testing::TestBroker`], which a test can stop cleanly or crash.

use crate::app::App;
use crate::error::Result;
use crate::testing::faults::WorkerLink;
use crate::transport::TopicPartition;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One running worker of an app on a [`crate::testing::TestBroker`].
#[derive(Clone)]
pub struct TestWorker {
    app: App,
    link: Arc<WorkerLink>,
}

impl std::fmt::Debug for TestWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWorker")
            .field("app", &self.app)
            .field("crashed", &self.is_crashed())
            .finish()
    }
}

impl TestWorker {
    pub(crate) fn new(app: App, link: Arc<WorkerLink>) -> Self {
        TestWorker { app, link }
    }

    /// The app this worker runs (bind handles to it: `Orders.on(worker.app())`).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The partitions this worker holds now.
    pub fn assigned(&self) -> BTreeSet<TopicPartition> {
        self.link
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many commits of this worker reached the broker.
    pub fn commits(&self) -> u64 {
        self.link.commits.load(Ordering::Relaxed)
    }

    /// Stops the worker cleanly (its final commit included), as SIGTERM does.
    pub async fn stop(&self) -> Result<()> {
        self.app.stop().await
    }

    /// Kills the worker: from now on nothing it does reaches the broker — no record it sends
    /// lands and no offset it commits counts, the final commit included — and it leaves the
    /// group, as a process killed with SIGKILL would. Its partitions go to the other workers
    /// (or to the next one started), which process again everything after the last commit.
    pub async fn crash(&self) {
        self.link.crashed.store(true, Ordering::Release);
        // Tears the in-process tasks down; none of it is seen by the broker any more.
        let _ = self.app.stop().await;
    }

    /// Whether [`TestWorker::crash`] was called.
    pub fn is_crashed(&self) -> bool {
        self.link.crashed.load(Ordering::Acquire)
    }
}
