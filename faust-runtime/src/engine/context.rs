//! The event an agent is processing, as seen from anywhere in its task.
//!
//! While an agent's task processes an event, the event's [`Ack`] lives here (with a copy of the
//! record's bytes when the topic dead-letters). Everything the task sends — topic records,
//! channel values — takes another hold of it ([`attach`]), so the event is done only once those
//! are delivered. The stream puts the next event here when the agent asks for it, releasing the
//! previous one (Faust's implicit acknowledgement); the agent's supervisor takes what is left
//! when the agent function returns or fails.
//!
//! Outside an agent task (a timer, a task the agent spawned, code before start) nothing is
//! current and sends are not attached to anything.

use super::tracker::Ack;
use crate::reply::ReplyTo;
use crate::stream::RawCopy;
use std::cell::RefCell;

/// The event being processed and what is needed to dead-letter it.
#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) ack: Ack,
    pub(crate) raw: Option<Box<RawCopy>>,
    pub(crate) offset: i64,
    /// The record's timestamp, ms since the epoch (`-1` when the broker gave none).
    pub(crate) timestamp: i64,
}

tokio::task_local! {
    static CURRENT: RefCell<Option<Current>>;
    /// Where the answer to the current event goes, when it is a request ([`crate::reply`]).
    static REPLY: RefCell<Option<Box<ReplyTo>>>;
}

/// Runs `fut` with a slot for the current event (an agent's task).
pub(crate) async fn scope<F: std::future::Future>(fut: F) -> F::Output {
    CURRENT
        .scope(RefCell::new(None), REPLY.scope(RefCell::new(None), fut))
        .await
}

/// Notes where the answer to the event just made current goes (`None`: it is no request).
#[inline]
pub(crate) fn set_reply(reply: Option<Box<ReplyTo>>) {
    if reply.is_none() {
        let _ = REPLY.try_with(|r| {
            if r.borrow().is_some() {
                *r.borrow_mut() = None;
            }
        });
        return;
    }
    let _ = REPLY.try_with(|r| *r.borrow_mut() = reply);
}

/// Where the answer to the current event goes, if it is a request.
pub(crate) fn reply_to() -> Option<ReplyTo> {
    REPLY
        .try_with(|r| r.borrow().as_deref().cloned())
        .ok()
        .flatten()
}

/// Makes `next` the current event and `reply` where its answer goes (`None`: it is no
/// request), returning the previous event for the caller to release: the next event replaces
/// the previous one in one visit to the slot. Gives `next` back when this task has no slot.
#[inline]
pub(crate) fn replace(
    next: Option<Current>,
    reply: Option<Box<ReplyTo>>,
) -> Result<Option<Current>, Option<Current>> {
    let mut next = Some(next);
    let r = CURRENT.try_with(|c| {
        let n = next.take().flatten();
        std::mem::replace(&mut *c.borrow_mut(), n)
    });
    match r {
        Ok(prev) => {
            set_reply(reply);
            Ok(prev)
        }
        Err(_) => Err(next.flatten()),
    }
}

/// Takes the current event out (the supervisor, when the agent function ended).
pub(crate) fn take() -> Option<Current> {
    CURRENT.try_with(|c| c.borrow_mut().take()).ok().flatten()
}

/// Another hold on the current event, for something sent while processing it.
#[inline]
pub(crate) fn attach() -> Option<Ack> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|cur| cur.ack.hold()))
        .ok()
        .flatten()
}

/// Makes `holds` hold the current event unless it holds an earlier event of the same partition
/// already (a table's write-behind: the earliest event of each partition blocks the commit of
/// everything after it). A later event of a partition replaces nothing; an earlier one (another
/// agent reading the same partition may lag) replaces the hold it precedes.
#[inline]
pub(crate) fn hold_earliest(holds: &mut Vec<Ack>) {
    let _ = CURRENT.try_with(|c| {
        let c = c.borrow();
        let Some(cur) = c.as_ref() else {
            return;
        };
        match holds.iter_mut().find(|h| h.same_partition(&cur.ack)) {
            Some(h) if h.precedes(&cur.ack) => {}
            Some(h) => *h = cur.ack.hold(),
            None => holds.push(cur.ack.hold()),
        }
    });
}

/// The partition number of the event being processed (what a table writes its changelog to).
#[inline]
pub(crate) fn partition() -> Option<i32> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|cur| cur.ack.partition().partition))
        .ok()
        .flatten()
}

/// The timestamp of the event being processed (ms since the epoch; `None` outside an event or
/// when the record has none): the event time windowed tables use.
#[inline]
pub(crate) fn timestamp() -> Option<i64> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|cur| cur.timestamp))
        .ok()
        .flatten()
        .filter(|t| *t >= 0)
}
