//! The delivery engine: how records get from a transport's consumer to the agents, and how their
//! offsets get committed.
//!
//! Data flows one way: the transport's [`Consumer`](crate::transport::Consumer) polls records
//! and reports rebalances → one consume [`driver`] per app runs the consume / commit / rebalance /
//! drain protocol → per assigned partition, a `tracker::PartitionTracker` numbers every record
//! handed to the agents and learns when each is done → the agents' streams.
//!
//! An event is done when every agent reading it is done with it *and* every record sent while
//! processing it is delivered (see `context`); the committed offset of a partition is the
//! offset after the longest done prefix, so completion may happen in any order.

pub(crate) mod context;
pub mod driver;
pub(crate) mod own_thread;
pub(crate) mod tracker;

pub use tracker::{Ack, Queued};
