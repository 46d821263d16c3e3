//! How the workers of an app with tables know each other's web addresses (Faust's router keeps
//! them in the group assignor's member metadata; librdkafka's assignors carry no user data, so
//! here they travel on a small internal topic): each worker publishes its web URL and the
//! partition numbers active on it to `{group_id}-__web-peers` (one partition, compacted, keyed
//! by the URL) when that set changes and every [`HEARTBEAT`], and reads the topic to know the
//! others. A worker that stops says so (a tombstone); one not heard from for three heartbeats
//! is forgotten (it died).
//!
//! The URL is the setting [`WebSettings::canonical_url`](crate::settings::WebSettings), else
//! `http://{host}:{port}` with the bound port and the bound address, or this machine's host
//! name when the server binds every address (`0.0.0.0`).

use crate::app::App;
use crate::error::Result;
use crate::transport::{OutgoingRecord, TopicPartition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often a worker says again that it is there.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often a worker looks whether its active partitions changed.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// What a worker publishes about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PeerRecord {
    /// Its web server's URL (no trailing slash).
    pub(crate) url: String,
    /// The partition numbers active on it.
    pub(crate) partitions: Vec<i32>,
}

/// The other workers this one knows, and its own URL.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    me: OnceLock<String>,
    known: Mutex<HashMap<String, (Vec<i32>, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Peers {
    /// This worker's URL, once the server is bound.
    pub(crate) fn me(&self) -> Option<&str> {
        self.me.get().map(String::as_str)
    }

    /// The other workers heard from lately, with their active partitions, sorted by URL.
    pub(crate) fn others(&self) -> Vec<PeerRecord> {
        let me = self.me();
        let mut out: Vec<PeerRecord> = lock(&self.known)
            .iter()
            .filter(|(url, (_, seen))| Some(url.as_str()) != me && seen.elapsed() < HEARTBEAT * 3)
            .map(|(url, (partitions, _))| PeerRecord {
                url: url.clone(),
                partitions: partitions.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.url.cmp(&b.url));
        out
    }

    fn heard(&self, key: Option<&[u8]>, value: Option<&[u8]>) {
        let mut known = lock(&self.known);
        match value.map(serde_json::from_slice::<PeerRecord>) {
            Some(Ok(r)) => {
                known.insert(r.url, (r.partitions, Instant::now()));
            }
            Some(Err(e)) => tracing::debug!(error = %e, "a web-peers record that does not decode"),
            None => {
                if let Some(url) = key.and_then(|k| std::str::from_utf8(k).ok()) {
                    known.remove(url);
                }
            }
        }
    }
}

/// A record read from the peers topic: key and value.
type Heard = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The name of the app's peers topic.
pub(crate) fn topic_name(app: &App) -> String {
    format!("{}-__web-peers", app.group_id())
}

/// The URL other workers reach this one at.
fn canonical_url(app: &App, addr: std::net::SocketAddr) -> String {
    if let Some(u) = &app.settings().web.canonical_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = if addr.ip().is_unspecified() {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_string())
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        }
    };
    format!("http://{host}:{}", addr.port())
}

/// At startup, once the tables exist: creates the peers topic, then publishes this worker and
/// follows the others until the app stops. Does nothing without a web server or tables.
pub(crate) async fn start(app: &App) -> Result<()> {
    let tables = &app.core_ref().tables;
    let Some(addr) = app.web_addr() else {
        return Ok(());
    };
    if tables.is_empty() {
        return Ok(());
    }
    let peers = &app.observe().web.peers;
    let me = canonical_url(app, addr);
    let _ = peers.me.set(me.clone());
    let topic = app
        .topic::<Vec<u8>, Vec<u8>>(topic_name(app))
        .partitions(1)
        .compacting(true)
        .build()?;
    app.ensure_declared(topic.spec()).await?;
    let name = topic.name();
    let mut reader = app
        .transport()
        .partition_reader(&[(
            TopicPartition {
                topic: name.to_string(),
                partition: 0,
            },
            0,
        )])
        .await?;

    let publisher = app.clone();
    tokio::spawn(async move {
        let mut last: Option<(Vec<i32>, Instant)> = None;
        loop {
            let active = publisher.core_ref().tables.active();
            let due = match &last {
                Some((sent, at)) => *sent != active || at.elapsed() >= HEARTBEAT,
                None => true,
            };
            if due {
                let record = PeerRecord {
                    url: me.clone(),
                    partitions: active.clone(),
                };
                let value = serde_json::to_vec(&record).unwrap_or_default();
                let out = OutgoingRecord::new(name, Some(me.clone().into_bytes()), Some(value));
                match publisher.produce_soon(out) {
                    Ok(_) => last = Some((active, Instant::now())),
                    Err(e) => {
                        tracing::debug!(error = %e, "could not publish this worker's web address")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = publisher.stopping() => break,
            }
        }
        // Stopping: the others forget this worker now rather than after three heartbeats (the
        // producer's flush at stop sends it).
        let gone = OutgoingRecord::new(name, Some(me.into_bytes()), None);
        if let Err(e) = publisher.produce_soon(gone) {
            tracing::debug!(error = %e, "could not tell the other workers this one stops");
        }
    });

    let follower = app.clone();
    tokio::spawn(async move {
        let mut heard: Vec<Heard> = Vec::new();
        loop {
            let mut sink = |m: &crate::transport::RawMessage<'_>| {
                heard.push((m.key.map(<[u8]>::to_vec), m.value.map(<[u8]>::to_vec)));
            };
            // A reader may answer at once when nothing is there (the embedded broker's does):
            // then this waits before asking again.
            let pause = tokio::select! {
                r = reader.read(Duration::from_millis(500), &mut sink) => match r {
                    Ok(0) => Some(CHECK_EVERY),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the web-peers topic failed");
                        Some(Duration::from_secs(1))
                    }
                },
                _ = follower.stopping() => return,
            };
            let peers = &follower.observe().web.peers;
            for (k, v) in heard.drain(..) {
                peers.heard(k.as_deref(), v.as_deref());
            }
            if let Some(pause) = pause {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = follower.stopping() => return,
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_tombstones_update_the_known_peers() {
        let p = Peers::default();
        let _ = p.me.set("http://me:1".into());
        let rec = |url: &str, parts: &[i32]| {
            serde_json::to_vec(&PeerRecord {
                url: url.into(),
                partitions: parts.to_vec(),
            })
            .unwrap()
        };
        p.heard(Some(b"http://a:1"), Some(&rec("http://a:1", &[0, 2])));
        p.heard(Some(b"http://me:1"), Some(&rec("http://me:1", &[1])));
        p.heard(Some(b"http://b:1"), Some(&rec("http://b:1", &[3])));
        p.heard(Some(b"x"), Some(b"not json"));
        let urls: Vec<String> = p.others().into_iter().map(|r| r.url).collect();
        assert_eq!(urls, ["http://a:1", "http://b:1"], "itself is not a peer");
        p.heard(Some(b"http://a:1"), Some(&rec("http://a:1", &[0])));
        assert_eq!(p.others()[0].partitions, [0]);
        p.heard(Some(b"http://b:1"), None);
        assert_eq!(p.others().len(), 1);
    }
}
