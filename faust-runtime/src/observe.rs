//! What an app keeps to be watched: its sensors, its metrics, the blocking-timeout slots, its
//! web server and its readiness. One field of the app; the engine reads it through
//! [`App::observe`](crate::App).

use crate::blocking::{Blocking, Busy, Worker};
use crate::metrics::Metrics;
use crate::sensor::{EventRef, Sensor, Sensors};
use crate::timer::TimerSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Observe {
    pub(crate) sensors: Sensors,
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) blocking: Option<Arc<Blocking>>,
    pub(crate) web: crate::web::WebHandle,
    /// The consumer had its first assignment and its hooks ran (or the app reads no topic).
    pub(crate) assigned: AtomicBool,
}

impl Observe {
    pub(crate) fn new(mut sensors: Vec<Arc<dyn Sensor>>, settings: &crate::Settings) -> Observe {
        let metrics = settings.web.enabled.then(|| Arc::new(Metrics::new()));
        if let Some(m) = &metrics {
            sensors.push(m.clone());
        }
        Observe {
            sensors: Sensors::new(sensors),
            metrics,
            blocking: settings
                .blocking_timeout
                .map(|t| Arc::new(Blocking::new(t))),
            web: Default::default(),
            assigned: AtomicBool::new(false),
        }
    }

    /// The probe of one agent instance's stream, `None` when nothing watches streams.
    pub(crate) fn stream_probe(
        &self,
        agent: &'static str,
        source: &'static str,
    ) -> Option<Arc<StreamProbe>> {
        let busy = self
            .blocking
            .as_ref()
            .map(|b| b.slot(Worker::Agent { agent, source }));
        if busy.is_none() && self.sensors.get().is_none() {
            return None;
        }
        Some(Arc::new(StreamProbe {
            agent,
            sensors: self.sensors.clone(),
            busy,
        }))
    }

    pub(crate) fn set_assigned(&self) {
        self.assigned.store(true, Ordering::Release);
    }

    /// Not ready again until the next assignment (the consumer is rejoining its group).
    pub(crate) fn set_unassigned(&self) {
        self.assigned.store(false, Ordering::Release);
    }

    pub(crate) fn is_assigned(&self) -> bool {
        self.assigned.load(Ordering::Acquire)
    }
}

/// What an agent instance's stream reports events to.
#[derive(Debug)]
pub(crate) struct StreamProbe {
    agent: &'static str,
    sensors: Sensors,
    busy: Option<Arc<Busy>>,
}

/// The event an agent instance holds, as its probe saw it start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    partition: i32,
    offset: i64,
    started: Instant,
}

impl StreamProbe {
    /// The stream yielded an event.
    #[inline]
    pub(crate) fn event_in(&self, source: &str, partition: i32, offset: i64) -> Open {
        if let Some(b) = &self.busy {
            b.start(partition, offset);
        }
        let e = EventRef {
            agent: self.agent,
            source,
            partition,
            offset,
        };
        self.sensors.each(|s| s.on_stream_event_in(&e));
        Open {
            partition,
            offset,
            started: Instant::now(),
        }
    }

    /// The agent is done with the event it held.
    #[inline]
    pub(crate) fn event_out(&self, source: &str, open: Open) {
        if let Some(b) = &self.busy {
            b.done();
        }
        if self.sensors.get().is_some() {
            let took = open.started.elapsed();
            let e = EventRef {
                agent: self.agent,
                source,
                partition: open.partition,
                offset: open.offset,
            };
            self.sensors.each(|s| s.on_stream_event_out(&e, took));
        }
    }

    /// The agent stopped holding its event without finishing it (it failed, or its stream was
    /// handed back).
    pub(crate) fn idle(&self) {
        if let Some(b) = &self.busy {
            b.done();
        }
    }
}

/// Runs one timer tick: times it against the blocking timeout and tells the sensors.
pub(crate) async fn run_timer(
    observe: &Observe,
    spec: &'static TimerSpec,
    busy: Option<&Busy>,
) -> Result<(), String> {
    use futures::FutureExt;
    if let Some(b) = busy {
        b.start(0, -1);
    }
    let started = Instant::now();
    let outcome = match std::panic::AssertUnwindSafe((spec.run)())
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(format!(
            "panicked: {}",
            crate::error::panic_message(p.as_ref())
        )),
    };
    if let Some(b) = busy {
        b.done();
    }
    let took = started.elapsed();
    let err = outcome.as_ref().err().map(String::as_str);
    observe
        .sensors
        .each(|s| s.on_timer_run(spec.name, took, err));
    outcome
}

/// The blocking-timeout slot of a timer, if the setting is on.
pub(crate) fn timer_slot(observe: &Observe, spec: &'static TimerSpec) -> Option<Arc<Busy>> {
    observe
        .blocking
        .as_ref()
        .map(|b| b.slot(Worker::Timer(spec.name)))
}
