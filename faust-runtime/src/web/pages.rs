//! User pages: `#[page("/path")]` on an async axum handler adds a route to the worker's web
//! server (Faust's `@app.page`). The handler may take any axum extractor, the app among them
//! (`State<App>`), and return anything axum can turn into a response.
//!
//! ```
//! use faust_runtime::prelude::*;
//! use faust_runtime::web::axum::{extract::State, Json};
//!
//! #[page("/orders/count")]
//! async fn order_count(State(app): State<App>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "app": app.id() }))
//! }
//! # fn main() {}
//! ```

use crate::app::App;
use axum::Router;

/// The static declaration behind a `#[page]` handler.
pub struct PageSpec {
    /// The route, e.g. `/orders/{id}` (axum's path syntax).
    pub path: &'static str,
    /// Full Rust path of the handler.
    pub qualified: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Adds the route to the server's router (generated).
    pub route: fn(Router<App>) -> Router<App>,
}

impl std::fmt::Debug for PageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageSpec")
            .field("path", &self.path)
            .field("qualified", &self.qualified)
            .finish_non_exhaustive()
    }
}

/// Paths the server serves itself: a page cannot take them.
pub(crate) const RESERVED: &[&str] = &[
    "/",
    "/metrics",
    "/health",
    "/ready",
    "/api/dashboard",
    "/api/topology",
    "/table",
    "/table/{name}",
    "/table/{name}/{key}",
];

/// The pages of the app's modules, sorted by path; a page on a reserved path or a path given
/// twice is left out with an error in the log (axum would panic on it).
pub(crate) fn selected(app: &App) -> Vec<&'static PageSpec> {
    let mut pages: Vec<&'static PageSpec> = crate::registry::pages(app.modules());
    pages.sort_by_key(|p| (p.path, p.qualified));
    let mut out: Vec<&'static PageSpec> = Vec::new();
    for p in pages {
        if RESERVED.contains(&p.path) {
            tracing::error!(
                page = p.qualified,
                path = p.path,
                "a #[page] cannot take a path the web server serves itself; it is not served"
            );
        } else if let Some(prev) = out.iter().find(|o| o.path == p.path) {
            tracing::error!(
                page = p.qualified,
                other = prev.qualified,
                path = p.path,
                "two #[page]s share a path; only the first is served"
            );
        } else {
            out.push(p);
        }
    }
    out
}
