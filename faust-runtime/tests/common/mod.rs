//! Helpers shared by the integration tests.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The order the app tests send around.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub product: String,
    pub quantity: u32,
}

/// Order number `id`, with a product and quantity derived from it.
pub fn order(id: u64) -> Order {
    Order {
        id,
        product: format!("p{}", id % 7),
        quantity: (id % 5) as u32 + 1,
    }
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Like [`eventually`], for a condition that has to await (reading a topic, an HTTP call):
/// polls it every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Kafka broker under test (`FAUST_TEST_KAFKA`, set by scripts/test.sh), or `None` when
/// `FAUST_SKIP_KAFKA=1` asks to skip; any other absence is a failure, not a silent skip.
pub fn kafka_url() -> Option<String> {
    match std::env::var("FAUST_TEST_KAFKA") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ if std::env::var("FAUST_SKIP_KAFKA").as_deref() == Ok("1") => {
            eprintln!("FAUST_SKIP_KAFKA=1: skipping this Kafka test");
            None
        }
        _ => panic!(
            "FAUST_TEST_KAFKA is not set: run scripts/test.sh, which starts a Kafka-protocol broker \
             and sets it (or set FAUST_SKIP_KAFKA=1 to skip the Kafka tests in a quick local run)"
        ),
    }
}

/// The broker URL, or return from the test when skipping.
#[allow(unused_macros)]
macro_rules! kafka_or_skip {
    () => {
        match kafka_url() {
            Some(url) => url,
            None => return,
        }
    };
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A gate test agents wait at until the test opens it (a `static`, so agents reach it).
pub struct Gate {
    open: std::sync::atomic::AtomicBool,
    opened: tokio::sync::Notify,
}

impl Gate {
    /// A closed gate.
    pub const fn new() -> Self {
        Gate {
            open: std::sync::atomic::AtomicBool::new(false),
            opened: tokio::sync::Notify::const_new(),
        }
    }

    /// Opens the gate for every waiter, now and later.
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::Release);
        self.opened.notify_waiters();
    }

    /// Waits until the gate is open.
    pub async fn passed(&self) {
        loop {
            let opened = self.opened.notified();
            if self.open.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            opened.await;
        }
    }
}
