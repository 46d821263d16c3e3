//! The queue of one channel in one app, and how its senders wait for room.
//!
//! A sender that finds the queue full waits for room through [`Room`], not through the
//! queue's own wait: the queue would wake it for every value taken, each time through a lock
//! of its listeners and a cross-thread wake, so a full channel would cost that per value. The
//! readers wake the waiting senders once the queue is half empty, so one wake makes room for
//! many values.

use crate::stream::Delivery;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// The queue of one channel in one app. A value put while an agent processes an event carries
/// a hold on that event: the event is done once the value's reader is done with it.
pub(crate) struct ChannelQueue<K, V> {
    pub(crate) tx: async_channel::Sender<Delivery<K, V>>,
    pub(crate) rx: async_channel::Receiver<Delivery<K, V>>,
    pub(crate) room: std::sync::Arc<Room>,
}

/// Why a value could not be put on a channel: it was closed (the app stopped).
#[derive(Debug)]
pub(crate) struct Closed;

impl<K: Send + 'static, V: Send + 'static> ChannelQueue<K, V> {
    /// A queue of `maxsize` values, and what closes it (when the app stops).
    pub(crate) fn new(maxsize: usize) -> (Self, impl Fn() + Send + Sync + 'static) {
        let (tx, rx) = async_channel::bounded(maxsize.max(1));
        let room = std::sync::Arc::new(Room {
            waiting: AtomicUsize::new(0),
            notify: Notify::new(),
            low: maxsize / 2,
        });
        let close = {
            let (tx, room) = (tx.clone(), room.clone());
            move || {
                tx.close();
                room.notify.notify_waiters();
            }
        };
        (ChannelQueue { tx, rx, room }, close)
    }
}

/// Puts `d` on the queue of `tx`, waiting through `room` while it is full.
pub(crate) async fn put<K, V>(
    tx: &async_channel::Sender<Delivery<K, V>>,
    room: &Room,
    mut d: Delivery<K, V>,
) -> Result<(), Closed> {
    loop {
        let notified = room.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let _waiting = Waiting::new(room);
        match tx.try_send(d) {
            Ok(()) => return Ok(()),
            Err(async_channel::TrySendError::Closed(_)) => return Err(Closed),
            Err(async_channel::TrySendError::Full(back)) => d = back,
        }
        notified.await;
    }
}

/// Wakes the senders waiting on a full channel.
pub(crate) struct Room {
    /// Senders waiting for room.
    waiting: AtomicUsize,
    notify: Notify,
    /// The waiting senders are woken once the queue holds at most this many values.
    low: usize,
}

impl Room {
    /// A reader took a value from `rx`: wakes the waiting senders if the queue is low enough.
    #[inline]
    pub(crate) fn taken<T>(&self, rx: &async_channel::Receiver<T>) {
        // Pairs with the fence in `Waiting::new`: a sender that found the queue full is seen
        // waiting here, or its retry finds the room this take made.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 && rx.len() <= self.low {
            self.notify.notify_waiters();
        }
    }
}

/// A sender counted as waiting for as long as it lives.
struct Waiting<'a>(&'a Room);

impl<'a> Waiting<'a> {
    fn new(room: &'a Room) -> Self {
        room.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Waiting(room)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}
