//! Asking another worker's web server (the table views' routing): one HTTP/1.1 `GET` with
//! hyper, marked as routed so the worker asked answers from what it holds and asks no one else.

use axum::http::{header, Request};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The header marking a request one worker sends another.
pub(crate) const ROUTED: &str = "x-faust-routed";

/// How long a worker waits for another's answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Status and body of `GET {base}{path_and_query}`, where `base` is a peer's URL
/// (`http://host:port`).
pub(crate) async fn get(base: &str, path_and_query: &str) -> Result<(u16, Bytes), String> {
    tokio::time::timeout(TIMEOUT, get_inner(base, path_and_query))
        .await
        .map_err(|_| format!("{base} did not answer within {TIMEOUT:?}"))?
}

async fn get_inner(base: &str, path_and_query: &str) -> Result<(u16, Bytes), String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{base}' is not an http:// URL"))?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {base}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{base}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::get(path_and_query)
        .header(header::HOST, authority)
        .header(ROUTED, "1")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{base}{path_and_query}: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{base}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{base}: {e}"))?
        .to_bytes();
    Ok((status, body))
}
