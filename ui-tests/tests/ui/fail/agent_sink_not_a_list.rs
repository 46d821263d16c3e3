use faust_runtime::prelude::*;

#[topic(name = "in", key = String, value = u64)]
pub struct In;

#[topic(name = "out", key = String, value = u64)]
pub struct Out;

#[agent(In, sink = Out, handle = "Forwarder")]
async fn forward(mut stream: Stream<In>, out: Yield<u64>) -> Result<()> {
    while let Some(v) = stream.next().await {
        out.send(v).await?;
    }
    Ok(())
}

fn main() {}
