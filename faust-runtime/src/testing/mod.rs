//! Testing an app in-process: its workers run on an embedded broker of the test's own, the test
//! injects faults and reads back what landed on topics and what was committed.
//!
//! - [`TestBroker::start`] builds and starts a worker ([`TestWorker`]) of an app; start a second
//!   one of the same app id and the group rebalances (it joins), stop one and it rebalances
//!   again (it leaves).
//! - [`TestWorker::crash`] kills a worker without its final commit, as SIGKILL would; start a
//!   new one to restart it.
//! - [`TestBroker::cut`] / [`TestBroker::restore`]: a broker outage.
//! - [`TestBroker::send`] writes raw bytes, so a poison record is just bytes the codec refuses.
//! - [`TestBroker::records`], [`TestBroker::committed`], [`TestBroker::lag`],
//!   [`TestWorker::assigned`]: what happened.
//! - Time: every timer of the runtime (commit interval, restart backoff, timers, shutdown
//!   timeout) runs on tokio's clock, so a test can run with it paused
//!   (`#[tokio::test(start_paused = true)]`, tokio's `test-util` feature): idle waits then take
//!   no real time, and `tokio::time::advance` moves time on by hand. [`wait_for`] waits on the
//!   same clock.
//!
//! A worker crashed mid-stream and restarted processes again what it had not committed, and
//! loses nothing:
//!
//! ```
//! use faust_runtime::prelude::*;
//! use faust_runtime::testing::{wait_for, TestBroker};
//! use std::sync::Mutex;
//! use std::time::Duration;
//!
//! static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
//!
//! #[topic(name = "ids", key = String, value = u64, partitions = 2)]
//! struct Ids;
//!
//! #[agent(Ids)]
//! async fn record_ids(mut ids: Stream<Ids>) -> Result<()> {
//!     while let Some(id) = ids.next().await {
//!         SEEN.lock().unwrap().push(id);
//!     }
//!     Ok(())
//! }
//!
//! fn app() -> faust_runtime::AppBuilder {
//!     App::builder("ids-app").commit_interval(Duration::from_millis(100))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<()> {
//! let broker = TestBroker::new();
//! let worker = broker.start(app()).await?;
//! for id in 0..100u64 {
//!     broker.send_json("ids", Some(&format!("k{id}")), &id).await?;
//! }
//! wait_for("every id", Duration::from_secs(10), || SEEN.lock().unwrap().len() == 100).await?;
//! worker.crash().await; // no final commit
//! let committed: i64 = broker.committed("ids-app", "ids")?.iter().flatten().sum();
//! assert!(committed <= 100);
//!
//! let restarted = broker.start(app()).await?;
//! wait_for("the lag to drain", Duration::from_secs(10), || {
//!     broker.lag("ids-app", "ids").unwrap() == 0
//! })
//! .await?;
//! restarted.stop().await?;
//! let seen = SEEN.lock().unwrap();
//! // At least once: every id was processed; what was not committed was processed again.
//! assert!((0..100).all(|id| seen.contains(&id)));
//! assert_eq!(seen.len() as i64, 100 + (100 - committed));
//! # Ok(()) }
//! ```

mod broker;
mod faults;
mod landed;
mod wait;
mod worker;

pub use broker::TestBroker;
pub use landed::Landed;
pub use wait::wait_for;
pub use worker::TestWorker;
