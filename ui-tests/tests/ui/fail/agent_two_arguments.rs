use faust_runtime::prelude::*;

#[channel(value = u64)]
pub struct Numbers;

#[agent(Numbers)]
async fn sum(numbers: Stream<Numbers>, factor: u64) {
    let _ = (numbers, factor);
}

fn main() {}
