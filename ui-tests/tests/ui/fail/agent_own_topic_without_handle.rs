use faust_runtime::prelude::*;

// An agent without a topic reads its own; its stream is named by its handle, which is missing.
#[agent(value = u64)]
async fn count(numbers: Stream<Numbers>) {
    let _ = numbers;
}

fn main() {}
