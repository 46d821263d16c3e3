//! The table views of the worker's web server (Faust's table views and `table_route`):
//!
//! | path | answer |
//! |---|---|
//! | `/table` | the app's tables: name, partitions, changelog, partitions active here, keys here |
//! | `/table/{name}` | one table on this worker: partitions active here, how many keys they hold and up to `?limit=` (default 100, at most 10,000) of them with their values, and the other workers with the partitions active on them |
//! | `/table/{name}/{key}` | the key's value, from whichever worker holds it |
//!
//! A key is written as JSON (`"apple"`, `42`, `["a",[0.0,9.9]]` for a window of a windowed
//! table) or as plain text, taken as a string (`apple`). A key lives in the partition of the
//! event that wrote it, which a web request cannot tell in general (it depends on how the
//! stream was keyed and partitioned), so a worker that does not hold the key asks the other
//! workers of the app ([`super::peers`]) at once and answers with the holder's answer; they are
//! asked with a mark that keeps them from asking further. Answers: `200` with
//! `{"table", "key", "value", "worker"}` (`worker`: the URL of the worker that holds it), `404`
//! when no worker holds the key, `503` when some partitions of the table are active on no
//! worker (a rebalance or a recovery is under way: the key may be there), `400` for a key the
//! table's key type cannot take.

use super::forward::{self, ROUTED};
use crate::app::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Items `/table/{name}` shows unless `?limit=` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Items `/table/{name}` shows at most (the partitions are locked while they are copied).
const MAX_LIMIT: usize = 10_000;

fn answer(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

fn me(app: &App) -> Option<String> {
    app.observe().web.peers.me().map(str::to_string)
}

fn no_table(app: &App, name: &str) -> Response {
    let names: Vec<&str> = app
        .core_ref()
        .tables
        .all()
        .iter()
        .map(|t| t.name())
        .collect();
    answer(
        StatusCode::NOT_FOUND,
        json!({ "error": format!("no table '{name}'"), "tables": names }),
    )
}

/// `/table`.
pub(crate) async fn list(State(app): State<App>) -> Response {
    let tables = &app.core_ref().tables;
    let active = tables.active();
    let rows: Vec<Value> = tables
        .all()
        .iter()
        .map(|t| {
            let mine: Vec<i32> = active
                .iter()
                .copied()
                .filter(|p| *p < t.partitions())
                .collect();
            json!({
                "name": t.name(),
                "partitions": t.partitions(),
                "changelog": t.changelog(),
                "active_partitions": mine,
                "standby_partitions": crate::table::standby::partitions(t.as_ref()),
                "keys": t.view().items_json(0).0,
            })
        })
        .collect();
    answer(StatusCode::OK, Value::Array(rows))
}

/// `/table/{name}`.
pub(crate) async fn summary(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(t) = app.core_ref().tables.find(&name) else {
        return no_table(&app, &name);
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) => n.min(MAX_LIMIT),
        Some(Err(_)) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": "limit must be a number" }),
            )
        }
    };
    let (keys, items) = t.view().items_json(limit);
    let active: Vec<i32> = app
        .core_ref()
        .tables
        .active()
        .into_iter()
        .filter(|p| *p < t.partitions())
        .collect();
    let peers: Vec<Value> = app
        .observe()
        .web
        .peers
        .others()
        .into_iter()
        .map(|p| json!({ "url": p.url, "partitions": p.partitions }))
        .collect();
    answer(
        StatusCode::OK,
        json!({
            "table": t.name(),
            "worker": me(&app),
            "partitions": t.partitions(),
            "changelog": t.changelog(),
            "active_partitions": active,
            "standby_partitions": crate::table::standby::partitions(t.as_ref()),
            "keys": keys,
            "items": items.into_iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>(),
            "peers": peers,
        }),
    )
}

/// `/table/{name}/{key}`.
pub(crate) async fn key(
    State(app): State<App>,
    Path((name, key)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(t) = app.core_ref().tables.find(&name) else {
        return no_table(&app, &name);
    };
    match t.view().lookup_json(&key) {
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({ "error": e })),
        Ok(Some(value)) => {
            return answer(
                StatusCode::OK,
                json!({ "table": t.name(), "key": key, "value": value, "worker": me(&app) }),
            )
        }
        Ok(None) => {}
    }
    let not_found = || {
        answer(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no key {key} in table '{name}'"), "table": name }),
        )
    };
    if headers.contains_key(ROUTED) {
        // Asked by another worker: what this one holds is the whole answer.
        return not_found();
    }
    let peers = app.observe().web.peers.others();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let mut asked: FuturesUnordered<_> = peers
        .iter()
        .filter(|p| p.partitions.iter().any(|n| *n < t.partitions()))
        .map(|p| {
            let path = path.clone();
            async move { (p, forward::get(&p.url, &path).await) }
        })
        .collect();
    let mut failed = Vec::new();
    while let Some((peer, r)) = asked.next().await {
        match r {
            Ok((200, body)) => {
                return match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => answer(StatusCode::OK, v),
                    Err(e) => answer(
                        StatusCode::BAD_GATEWAY,
                        json!({ "error": format!("{} answered with no JSON: {e}", peer.url) }),
                    ),
                };
            }
            Ok((404, _)) => {}
            Ok((code, _)) => failed.push(format!("{} answered {code}", peer.url)),
            Err(e) => failed.push(e),
        }
    }
    // Nobody holds it: is every partition of the table active somewhere?
    let mut covered: BTreeSet<i32> = app.core_ref().tables.active().into_iter().collect();
    for p in &peers {
        covered.extend(p.partitions.iter().copied());
    }
    let uncovered: Vec<i32> = (0..t.partitions())
        .filter(|p| !covered.contains(p))
        .collect();
    if !uncovered.is_empty() || !failed.is_empty() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "error": format!("no worker answered with key {key} of table '{name}', but it may exist: try again"),
                "partitions_not_active": uncovered,
                "workers_failed": failed,
            }),
        );
    }
    not_found()
}
