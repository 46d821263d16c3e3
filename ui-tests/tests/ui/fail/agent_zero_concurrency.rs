use faust_runtime::prelude::*;

#[channel(value = u64)]
pub struct Numbers;

#[agent(Numbers, concurrency = 0)]
async fn sum(numbers: Stream<Numbers>) {
    let _ = numbers;
}

fn main() {}
