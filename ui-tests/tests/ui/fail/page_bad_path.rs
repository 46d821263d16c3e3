use faust_runtime::prelude::*;

#[page("orders")]
async fn no_slash() -> &'static str {
    "x"
}

#[page("/metrics")]
async fn reserved() -> &'static str {
    "x"
}

#[page("/orders/:id", methd = "post")]
async fn old_syntax_and_typo() -> &'static str {
    "x"
}

fn main() {}
