use faust_runtime::prelude::*;

#[channel(value = u64)]
pub struct Numbers;

#[agent(Numbers)]
async fn sum(mut numbers: Stream<Numbers>) -> u64 {
    let mut total = 0;
    while let Some(n) = numbers.next().await {
        total += n;
    }
    total
}

fn main() {}
