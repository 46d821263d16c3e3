use faust_runtime::prelude::*;

#[topic(name = "jobs", key = String, value = u64)]
pub struct Jobs;

#[agent(Jobs, handle = Worker)]
pub async fn work(mut stream: Stream<Jobs>) {
    while stream.next().await.is_some() {}
}

async fn client() -> Result<()> {
    let _reply = Worker.ask(1).await?;
    Ok(())
}

fn main() {
    let _ = client();
}
