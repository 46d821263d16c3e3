use faust_runtime::prelude::*;

#[topic(name = "numbers", value = u64)]
pub struct Numbers;

// `value` is for an agent's own topic; this one reads `Numbers`.
#[agent(Numbers, value = u64)]
async fn count(numbers: Stream<Numbers>) {
    let _ = numbers;
}

fn main() {}
