//! The startup window: agents run up to their first read of a stream before the app's consumer
//! subscribes, so that an operator needing a topic of its own (the repartition topic of
//! [`crate::Stream::group_by`]) can define it and subscribe to it at startup, as Faust does.
//!
//! While the app starts, every agent instance's stream carries an [`Arrival`]; it is given up
//! when the stream is first polled (or dropped). The app waits until all are given up (at most
//! [`STARTUP_READ_WAIT`]), creates the topics the agents asked for and only then subscribes,
//! with those topics in the subscription. Afterwards the window is closed: a repartitioned stream
//! asked for later is an error naming the problem.
//!
//! The queues of repartitioned streams outlive an agent's restart: a failed agent's repartition
//! queue is parked here and taken again when the restarted agent calls `group_by` again.

use crate::engine::driver::Subscriber;
use crate::error::{Error, Result};
use crate::topic::TopicSpec;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the app waits at start for every agent to reach its first read.
pub(crate) const STARTUP_READ_WAIT: Duration = Duration::from_secs(5);

/// A topic an agent asked to read during the startup window, with its subscriber.
pub(crate) struct LateRoute {
    pub(crate) spec: &'static TopicSpec,
    /// The topic name (one of the spec's, for a handle covering several).
    pub(crate) name: &'static str,
    pub(crate) subscriber: Box<dyn Subscriber>,
}

#[derive(Default)]
pub(crate) struct Startup {
    /// `Some` while the window is open.
    routes: Mutex<Option<Vec<LateRoute>>>,
    /// Arrivals not given up yet.
    pending: AtomicUsize,
    arrived: tokio::sync::Notify,
    /// Queues of repartitioned streams whose agent ended (to be taken by its restart).
    parked: Mutex<HashMap<String, Box<dyn Any + Send>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held by an agent's stream until its first poll; see the module docs.
pub(crate) struct Arrival(Arc<Startup>);

impl Drop for Arrival {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.arrived.notify_waiters();
        }
    }
}

impl std::fmt::Debug for Arrival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Arrival")
    }
}

impl Startup {
    /// Opens the window (the app starts).
    pub(crate) fn open(&self) {
        *lock(&self.routes) = Some(Vec::new());
    }

    /// Whether topics may still be added to the subscription.
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.routes).is_some()
    }

    /// A new arrival to wait for; `None` once the window is closed.
    pub(crate) fn arrival(self: &Arc<Self>) -> Option<Arrival> {
        if !self.is_open() {
            return None;
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        Some(Arrival(self.clone()))
    }

    /// Adds `topic` to the subscription being built.
    pub(crate) fn add_route(&self, route: LateRoute) -> Result<()> {
        match lock(&self.routes).as_mut() {
            Some(routes) => {
                routes.push(route);
                Ok(())
            }
            None => Err(Error::state(format!(
                "topic '{}' must be subscribed at startup, before the agent first reads its stream",
                route.name
            ))),
        }
    }

    /// Waits until every arrival is given up, at most `timeout`; `false` on timeout.
    pub(crate) async fn wait_arrivals(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.pending.load(Ordering::Acquire) == 0;
            }
        }
    }

    /// Closes the window, returning the topics added during it.
    pub(crate) fn close(&self) -> Vec<LateRoute> {
        lock(&self.routes).take().unwrap_or_default()
    }

    /// Keeps `queue` under `name` for the next reader.
    pub(crate) fn park(&self, name: &str, queue: Box<dyn Any + Send>) {
        lock(&self.parked).insert(name.to_string(), queue);
    }

    /// Takes what is parked under `name`: `Ok(None)` when nothing is, `Err` when it has
    /// another type (it stays parked).
    pub(crate) fn unpark<T: Any + Send>(&self, name: &str) -> Result<Option<T>> {
        let mut parked = lock(&self.parked);
        let Some(q) = parked.remove(name) else {
            return Ok(None);
        };
        match q.downcast::<T>() {
            Ok(t) => Ok(Some(*t)),
            Err(q) => {
                parked.insert(name.to_string(), q);
                Err(Error::state(format!(
                    "'{name}' is already read with other key or value types"
                )))
            }
        }
    }
}
