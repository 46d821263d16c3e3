use faust_runtime::prelude::*;

#[topic(pattern = "^events-[a-z]+$", key = String, value = u64, on_error = "skip")]
pub struct AllEvents;

#[agent(AllEvents, concurrency = 2)]
async fn count(mut stream: Stream<AllEvents>) -> Result<()> {
    while let Some(_n) = stream.next().await {}
    Ok(())
}

fn main() {
    let _ = count;
    assert_eq!(<AllEvents as Topic>::spec().name, "^events-[a-z]+$");
    assert!(<AllEvents as Topic>::spec().pattern);
}
