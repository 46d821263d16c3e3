use faust_runtime::prelude::*;

#[topic(name = "in", key = String, value = u64)]
pub struct In;

#[topic(name = "out", key = String, value = u64)]
pub struct Out;

#[agent(In, sink = [Out])]
async fn forward(mut stream: Stream<In>) {
    while stream.next().await.is_some() {}
}

fn main() {}
