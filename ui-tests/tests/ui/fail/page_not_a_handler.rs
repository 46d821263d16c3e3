use faust_runtime::prelude::*;

#[page("/count")]
fn not_async() -> &'static str {
    "x"
}

struct NotAResponse;

#[page("/thing")]
async fn bad_response() -> NotAResponse {
    NotAResponse
}

fn main() {}
