use faust_runtime::prelude::*;

#[topic(name = "numbers", value = u64)]
pub struct Numbers;

// The agent reads its own topic, so its stream is `Stream<Count>`.
#[agent(handle = Count, value = u64)]
async fn count(numbers: Stream<Numbers>) {
    let _ = numbers;
}

fn main() {}
