use faust_runtime::prelude::*;
use faust_runtime::web::axum::extract::{Path, State};
use faust_runtime::web::axum::Json;

#[page("/orders/{id}")]
async fn order(State(app): State<App>, Path(id): Path<u64>) -> Json<(String, u64)> {
    Json((app.id().to_string(), id))
}

#[page("/reset", method = "post")]
async fn reset() -> &'static str {
    "reset"
}

fn main() {}
