//! Request-reply between agents, byte-compatible with Faust's.
//!
//! - A request is a record sent to the agent's topic with two headers: `Faust-Ag-ReplyTo` (the
//!   topic to answer on) and `Faust-Ag-CorrelationId` (a UUID naming the request). This is what
//!   [`crate::AgentApi::ask`] sends, and what Faust agents read whatever their
//!   `use_reply_headers` setting. A request from a Faust client with its default settings
//!   instead wraps the value in a `ReqRepRequest` record
//!   (`{"value":..,"reply_to":"..","correlation_id":"..","__faust":{"ns":"@ReqRepRequest"}}`);
//!   an agent unwraps it and processes the inner value.
//! - The agent answers each value it yields ([`Yield::send`]) while processing a request with a
//!   `ReqRepResponse` record on the reply topic, without a key:
//!   `{"key":..,"value":..,"correlation_id":"..","__faust":{"ns":"@ReqRepResponse"}}` (`key`
//!   is the request's key as a JSON string when it is UTF-8 text, else `null`). The reply
//!   belongs to the request event: the request's offset is committed once the reply is
//!   delivered.
//! - An asking app has one reply topic, `f-reply-{uuid}` (Faust's default `reply_to`), made on
//!   its first `ask` with one partition and `retention.ms` of one day (Faust's `reply_expires`),
//!   and read by a consumer of its own from the earliest offset; replies are matched to the
//!   waiting callers by correlation id. Replies nobody waits for (after a timeout) are dropped.

use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use crate::transport::{Headers, OutgoingRecord};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The header naming the topic a request is answered on.
pub const REPLY_TO_HEADER: &str = "Faust-Ag-ReplyTo";
/// The header naming a request.
pub const CORRELATION_ID_HEADER: &str = "Faust-Ag-CorrelationId";
/// Prefix of an app's reply topic (Faust's default `reply_to` setting).
pub const REPLY_TOPIC_PREFIX: &str = "f-reply-";
/// How long replies are kept on a reply topic (Faust's `reply_expires`).
pub const REPLY_EXPIRES: Duration = Duration::from_secs(24 * 3600);

const REQUEST_NS: &[u8] = b"\"@ReqRepRequest\"";

/// Where the answer to a request goes.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    pub(crate) topic: String,
    pub(crate) correlation_id: String,
    /// The request's key bytes.
    pub(crate) key: Option<Bytes>,
}

/// The reply address carried in a record's headers, if it is a request.
pub(crate) fn from_headers(headers: &Headers, key: Option<&Bytes>) -> Option<Box<ReplyTo>> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_ref())
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let topic = find(REPLY_TO_HEADER).filter(|t| !t.is_empty())?;
    Some(Box::new(ReplyTo {
        topic: topic.to_string(),
        correlation_id: find(CORRELATION_ID_HEADER).unwrap_or_default().to_string(),
        key: key.cloned(),
    }))
}

/// Whether `value` may be Faust's `ReqRepRequest` envelope: a JSON object whose last field is
/// `"__faust":{"ns":"@ReqRepRequest"}` (a look at its last bytes only).
#[inline]
pub(crate) fn looks_like_request(value: &[u8]) -> bool {
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let v = &value[..end];
    if v.last() != Some(&b'}') {
        return false;
    }
    let tail = &v[v.len().saturating_sub(REQUEST_NS.len() + 12)..];
    tail.windows(REQUEST_NS.len()).any(|w| w == REQUEST_NS)
}

#[derive(serde::Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
    reply_to: String,
    correlation_id: String,
}

/// Faust's request envelope: where to reply, and the bytes of the value inside.
pub(crate) fn unwrap_request<'a>(
    value: &'a [u8],
    key: Option<&Bytes>,
) -> Option<(Box<ReplyTo>, &'a [u8])> {
    let req: Request<'a> = serde_json::from_slice(value).ok()?;
    Some((
        Box::new(ReplyTo {
            topic: req.reply_to,
            correlation_id: req.correlation_id,
            key: key.cloned(),
        }),
        req.value.get().as_bytes(),
    ))
}

#[derive(Serialize)]
struct FaustNs {
    ns: &'static str,
}

#[derive(Serialize)]
struct Response<'a, V> {
    key: Option<&'a str>,
    value: &'a V,
    correlation_id: &'a str,
    __faust: FaustNs,
}

/// The bytes of the `ReqRepResponse` answering `to` with `value`.
pub(crate) fn response_bytes<V: Serialize>(to: &ReplyTo, value: &V) -> Result<Vec<u8>> {
    let key = to.key.as_deref().and_then(|k| std::str::from_utf8(k).ok());
    serde_json::to_vec(&Response {
        key,
        value,
        correlation_id: &to.correlation_id,
        __faust: FaustNs {
            ns: "@ReqRepResponse",
        },
    })
    .map_err(|e| Error::Serialize {
        topic: to.topic.clone(),
        what: "reply",
        codec: "json".into(),
        reason: e.to_string(),
    })
}

#[derive(serde::Deserialize)]
struct ResponseIn<'a> {
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
    correlation_id: String,
}

/// What a waiting caller gets: the reply's value as JSON text.
type Waiter = oneshot::Sender<String>;

/// An app's reply topic and the callers waiting on it.
pub(crate) struct Replies {
    topic: String,
    waiting: Mutex<HashMap<String, Waiter>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replies {
    /// The app's reply consumer, made on first use: the reply topic is created and read.
    pub(crate) async fn of(app: &App) -> Result<Arc<Replies>> {
        app.core_ref()
            .replies
            .get_or_try_init(|| async {
                let name = format!("{REPLY_TOPIC_PREFIX}{}", uuid::Uuid::new_v4());
                let topic = app
                    .topic::<String, Bytes>(name.clone())
                    .partitions(1)
                    .deleting(true)
                    .retention(REPLY_EXPIRES)
                    .value_serializer("raw")
                    .build()?;
                topic.create().await?;
                let replies = Arc::new(Replies {
                    topic: name,
                    waiting: Mutex::new(HashMap::new()),
                });
                let reader = replies.clone();
                let mut stream = topic.stream();
                tokio::spawn(async move {
                    while let Some(bytes) = stream.next().await {
                        reader.fulfil(&bytes);
                    }
                });
                tracing::debug!(topic = %replies.topic, "reply topic ready");
                Ok(replies)
            })
            .await
            .cloned()
    }

    /// The reply topic's name.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Hands a reply to the caller waiting for it.
    fn fulfil(&self, bytes: &[u8]) {
        let resp: ResponseIn<'_> = match serde_json::from_slice(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(topic = %self.topic, error = %e, bytes = %crate::error::excerpt(bytes),
                    "a record on the reply topic is no reply; dropped");
                return;
            }
        };
        match lock(&self.waiting).remove(&resp.correlation_id) {
            Some(w) => {
                let _ = w.send(resp.value.get().to_string());
            }
            None => tracing::debug!(correlation_id = %resp.correlation_id,
                "reply nobody waits for (timed out or answered twice); dropped"),
        }
    }

    /// A new request: its correlation id and the receiver of its reply.
    pub(crate) fn register(self: &Arc<Self>) -> Pending {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id.clone(), tx);
        Pending {
            replies: self.clone(),
            id,
            rx: Some(rx),
        }
    }
}

/// A request waiting for its reply; forgets the request when dropped.
pub(crate) struct Pending {
    replies: Arc<Replies>,
    pub(crate) id: String,
    rx: Option<oneshot::Receiver<String>>,
}

impl Pending {
    /// The reply's JSON text, or `None` when none came within `timeout`.
    pub(crate) async fn wait(mut self, timeout: Duration) -> Option<String> {
        let rx = self.rx.take()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.replies.waiting).remove(&self.id);
    }
}

/// The type of an agent that yields nothing: its handle has no `ask`.
#[derive(Debug)]
pub enum NoReply {}

/// Forwards a yielded value to an agent's sinks (generated from `sink = [...]`).
pub type SinkFn<R> = fn(R) -> BoxFuture<'static, Result<()>>;

/// What an agent yields (Faust's `yield` in an agent): declare the agent with a second argument
/// `out: Yield<R>` and call [`Yield::send`] for each result.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[topic(name = "numbers", key = String, value = u64)]
/// struct Numbers;
///
/// #[agent(Numbers, handle = Doubler)]
/// async fn double(mut stream: Stream<Numbers>, out: Yield<u64>) -> Result<()> {
///     while let Some(n) = stream.next().await {
///         out.send(n * 2).await?; // answers `Doubler.ask(n)`, feeds the sinks
///     }
///     Ok(())
/// }
/// ```
pub struct Yield<R> {
    sinks: SinkFn<R>,
}

impl<R> std::fmt::Debug for Yield<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Yield")
    }
}

impl<R: Serialize + Send + 'static> Yield<R> {
    /// The handle of an agent whose yielded values go to `sinks` (generated code calls this).
    #[doc(hidden)]
    pub fn __new(sinks: SinkFn<R>) -> Self {
        Yield { sinks }
    }

    /// Yields `value`: when the event being processed is a request (an `ask` from Rust or
    /// Faust), the value is sent to the asker as its reply; then it is forwarded to each of the
    /// agent's sinks. Both sends belong to the event (its offset is committed once they are
    /// delivered).
    pub async fn send(&self, value: R) -> Result<()> {
        if let Some(to) = context::reply_to() {
            let app = App::current()?;
            let bytes = response_bytes(&to, &value)?;
            let record = OutgoingRecord::new(to.topic.clone(), None, Some(bytes));
            app.produce(record).await?;
        }
        (self.sinks)(value).await
    }
}

/// A sink list that forwards nothing (an agent without `sink = [...]`).
#[doc(hidden)]
pub fn __no_sinks<R>(_: R) -> BoxFuture<'static, Result<()>> {
    Box::pin(async { Ok(()) })
}
