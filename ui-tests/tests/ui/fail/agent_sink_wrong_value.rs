use faust_runtime::prelude::*;

#[topic(name = "in", key = String, value = u64)]
pub struct In;

#[topic(name = "names", key = String, value = String)]
pub struct Names;

#[agent(In, sink = [Names])]
async fn count(mut stream: Stream<In>, out: Yield<u64>) -> Result<()> {
    while let Some(v) = stream.next().await {
        out.send(v).await?;
    }
    Ok(())
}

fn main() {}
