//! Stream operators with Faust's names, where acknowledgement needs more than a `futures`
//! combinator: [`Batches`] (`take(max, within)`) and [`Items`] (`items()`).
//!
//! `map`, `filter`, `enumerate`, `then` and the rest of `futures::StreamExt` work on agent
//! streams as they are, with Faust's rule: an event is done when the next one is asked for, so
//! an event that `filter` drops is done as soon as it was looked at.
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! # #[derive(Serialize, Deserialize, Clone, Debug)] struct Click { page: String }
//! # #[topic(name = "clicks", key = String, value = Click)] struct Clicks;
//! #[agent(Clicks)]
//! async fn count_pages(clicks: Stream<Clicks>) -> Result<()> {
//!     let mut batches = clicks.take(100, std::time::Duration::from_secs(1));
//!     while let Some(batch) = batches.next().await {
//!         println!("{} clicks", batch.len());
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```

use crate::channel::Channel;
use crate::engine::context::Current;
use crate::event::Event;
use crate::stream::Core;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Batches of up to `max` items of a stream; made by [`crate::Stream::take`] and
/// [`crate::Events::take`].
pub struct Batches<H: Channel, T> {
    core: Core<H::Key, H::Value>,
    max: usize,
    within: Duration,
    with_hold: bool,
    map: fn(Event<H::Key, H::Value>) -> T,
    items: Vec<T>,
    /// Holds of the events of the batch being filled.
    filling: Vec<Current>,
    /// Holds of the batch handed out last: released when the next one is asked for.
    handed: Vec<Current>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<H: Channel, T> Batches<H, T> {
    pub(crate) fn new(
        core: Core<H::Key, H::Value>,
        max: usize,
        within: Duration,
        with_hold: bool,
        map: fn(Event<H::Key, H::Value>) -> T,
    ) -> Self {
        let max = max.max(1);
        Batches {
            core,
            max,
            within,
            with_hold,
            map,
            items: Vec::with_capacity(max),
            filling: Vec::with_capacity(max),
            handed: Vec::with_capacity(max),
            deadline: None,
        }
    }
}

impl<H: Channel, T> Unpin for Batches<H, T> {}

impl<H: Channel, T> futures::Stream for Batches<H, T> {
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        let this = self.get_mut();
        // The batch handed out last is processed: its events are done.
        this.handed.clear();
        this.core.finish_current();
        while this.items.len() < this.max {
            match this.core.poll_event(cx, this.with_hold) {
                Poll::Ready(Some(ev)) => {
                    if this.items.is_empty() {
                        this.deadline = Some(Box::pin(tokio::time::sleep(this.within)));
                    }
                    this.items.push((this.map)(ev));
                    if let Some(cur) = this.core.take_current() {
                        this.filling.push(cur);
                    }
                }
                Poll::Ready(None) => {
                    if this.items.is_empty() {
                        return Poll::Ready(None);
                    }
                    break;
                }
                Poll::Pending => {
                    let expired = match this.deadline.as_mut() {
                        Some(d) => d.as_mut().poll(cx).is_ready(),
                        None => false,
                    };
                    if this.items.is_empty() || !expired {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        this.deadline = None;
        // What is sent while the batch is processed belongs to its first event, which keeps
        // every offset of the batch uncommitted until it is delivered.
        if let Some(first) = this.filling.first() {
            this.core.set_current(
                Current {
                    ack: first.ack.hold(),
                    raw: None,
                    offset: first.offset,
                    timestamp: first.timestamp,
                },
                None,
            );
        }
        std::mem::swap(&mut this.handed, &mut this.filling);
        let batch = std::mem::replace(&mut this.items, Vec::with_capacity(this.max));
        Poll::Ready(Some(batch))
    }
}

/// Key and value of every event of a stream; made by [`crate::Stream::items`].
pub struct Items<H: Channel> {
    core: Core<H::Key, H::Value>,
}

impl<H: Channel> Items<H> {
    pub(crate) fn new(core: Core<H::Key, H::Value>) -> Self {
        Items { core }
    }
}

impl<H: Channel> Unpin for Items<H> {}

impl<H: Channel> futures::Stream for Items<H> {
    type Item = (Option<H::Key>, H::Value);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .core
            .poll_event(cx, false)
            .map(|o| o.map(|e| (e.key, e.value)))
    }
}
