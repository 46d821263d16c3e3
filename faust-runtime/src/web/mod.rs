//! The worker's web server (Faust's `web`), on axum: started with the app when
//! [`Settings::web`](crate::Settings::web) is enabled, stopped when it stops.
//!
//! | path | what |
//! |---|---|
//! | `/` | the live dashboard (plain HTML and JavaScript served from the binary) |
//! | `/metrics` | the Prometheus metrics ([`crate::metrics`]) in the text exposition format |
//! | `/health` | `200` while the worker is alive (not failed, not stopped), else `503` |
//! | `/ready` | `200` once topics are created, partitions assigned and the assignment hooks (state recovery) ran, and while none of the app's topics is missing from the broker; else `503` |
//! | `/api/dashboard` | what the dashboard shows, as JSON |
//! | `/api/topology` | the app's [`Topology`](crate::topology::Topology) (nodes and edges), as JSON |
//! | `/table`, `/table/{name}`, `/table/{name}/{key}` | the tables, as JSON, a key answered by the worker holding it (see `tables`) |
//! | user pages | every `#[page("/path")]` handler ([`macro@crate::page`]) |
//!
//! Port `0` picks a free port; [`App::web_addr`](crate::App::web_addr) tells the bound
//! address.

mod dashboard;
mod forward;
pub mod pages;
pub(crate) mod peers;
mod tables;

use crate::app::{App, AppState};
use crate::error::{Error, Result};
pub use axum;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

pub use pages::PageSpec;

/// The running server of an app.
#[derive(Debug, Default)]
pub(crate) struct WebHandle {
    addr: OnceLock<SocketAddr>,
    /// Bound by [`bind`] ahead of the start, not serving yet.
    bound: Mutex<Option<tokio::net::TcpListener>>,
    running: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
    /// The app's other workers (for the table views).
    pub(crate) peers: peers::Peers,
}

impl WebHandle {
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The app's routes: the built-in ones and every `#[page]` of the app's modules.
fn router(app: &App) -> Router {
    let mut r: Router<App> = Router::new()
        .route("/", get(dashboard::page))
        .route("/api/dashboard", get(dashboard::data))
        .route("/api/topology", get(dashboard::topology))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/table", get(tables::list))
        .route("/table/{name}", get(tables::summary))
        .route("/table/{name}/{key}", get(tables::key));
    for page in pages::selected(app) {
        let before = r.clone();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (page.route)(r))) {
            Ok(added) => r = added,
            Err(p) => {
                tracing::error!(page = page.qualified, path = page.path,
                    reason = %crate::error::panic_message(p.as_ref()),
                    "the #[page] route was refused; it is not served");
                r = before;
            }
        }
    }
    r.with_state(app.clone())
}

/// Binds the server's address if the settings enable it and it is not bound yet, without
/// serving: [`App::web_addr`] tells the address from here on (the worker's banner prints it
/// before the app starts). Returns that address.
pub(crate) async fn bind(app: &App) -> Result<Option<SocketAddr>> {
    let web = &app.settings().web;
    if !web.enabled {
        return Ok(None);
    }
    let handle = &app.observe().web;
    if let Some(addr) = handle.addr() {
        return Ok(Some(addr));
    }
    let want = SocketAddr::new(web.bind, web.port);
    let listener = tokio::net::TcpListener::bind(want).await.map_err(|e| {
        Error::config(format!(
            "the web server cannot listen on {want}: {e} (choose another --web-port, or 0 for a free one)"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::state(format!("the web server's address: {e}")))?;
    *lock(&handle.bound) = Some(listener);
    let _ = handle.addr.set(addr);
    Ok(Some(addr))
}

/// Starts the server if the settings enable it (binding first unless [`bind`] did).
pub(crate) async fn start(app: &App) -> Result<()> {
    let Some(addr) = bind(app).await? else {
        return Ok(());
    };
    let Some(listener) = lock(&app.observe().web.bound).take() else {
        // Served already (a second start of the same app is refused before this).
        return Ok(());
    };
    let (tx, rx) = oneshot::channel::<()>();
    let service = router(app);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the web server failed");
        }
    });
    *lock(&app.observe().web.running) = Some((tx, task));
    tracing::info!(%addr, "web server listening");
    Ok(())
}

/// Stops the server (open requests get up to `timeout` to finish).
pub(crate) async fn stop(app: &App, timeout: Duration) {
    // Bound but never served (the start failed after the banner).
    lock(&app.observe().web.bound).take();
    let Some((tx, task)) = lock(&app.observe().web.running).take() else {
        return;
    };
    let _ = tx.send(());
    let abort = task.abort_handle();
    if tokio::time::timeout(timeout, task).await.is_err() {
        tracing::warn!("the web server did not stop within {timeout:?}; closing it");
        abort.abort();
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let Some(m) = app.metrics() else {
        return (StatusCode::NOT_FOUND, "metrics are off").into_response();
    };
    m.set_queue_depth(queue_depth(&app));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// Records waiting for room in the producer plus those awaiting the broker's answer.
pub(crate) fn queue_depth(app: &App) -> usize {
    app.core_producer()
        .waiting
        .load(std::sync::atomic::Ordering::Relaxed)
        + app.transport().queue_depth()
}

async fn health(State(app): State<App>) -> Response {
    let h = app.health();
    let alive = h.fatal.is_none() && h.state != AppState::Stopped;
    let code = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "alive": alive,
        "state": format!("{:?}", h.state),
        "fatal": h.fatal,
    });
    (code, Json(body)).into_response()
}

async fn ready(State(app): State<App>) -> Response {
    let running = app.state() == AppState::Running;
    let assigned = app.observe().is_assigned();
    let missing = app.health().missing_topics;
    let (ready, body) = readiness(running, assigned, &missing);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Whether the worker is ready, and the `/ready` body: running, partitions assigned (their
/// assignment hooks, table recovery first, done) and none of its topics missing from the
/// broker (see [`crate::watchdog`]).
fn readiness(running: bool, assigned: bool, missing: &[String]) -> (bool, serde_json::Value) {
    let ready = running && assigned && missing.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "topics_created": running && missing.is_empty(),
        "partitions_assigned": assigned,
        "recovery_done": assigned,
        "missing_topics": missing,
    });
    (ready, body)
}

#[cfg(test)]
mod tests {
    use super::readiness;

    #[test]
    fn a_topic_missing_from_the_broker_makes_the_worker_not_ready() {
        assert!(readiness(true, true, &[]).0);
        let (ready, body) = readiness(true, true, &["orders".to_string()]);
        assert!(!ready);
        assert_eq!(body["missing_topics"][0], "orders");
        assert_eq!(body["topics_created"], false);
        assert!(!readiness(true, false, &[]).0);
        assert!(!readiness(false, true, &[]).0);
    }
}
