use faust_runtime::prelude::*;

#[channel(value = u64)]
pub struct Numbers;

#[agent(Numbers, handle = Summer)]
async fn sum(mut stream: Stream<Numbers>) {
    while stream.next().await.is_some() {}
}

fn main() {}
