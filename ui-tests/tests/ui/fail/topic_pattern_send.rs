use faust_runtime::prelude::*;

#[topic(pattern = "^events-.*", key = String, value = u64)]
pub struct AllEvents;

// A pattern names no topic to send to.
async fn send() -> Result<()> {
    AllEvents.send("k", 1).await?;
    Ok(())
}

fn main() {
    let _ = send;
}
