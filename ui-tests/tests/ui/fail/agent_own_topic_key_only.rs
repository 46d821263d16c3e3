use faust_runtime::prelude::*;

#[agent(handle = Count, key = String)]
async fn count(numbers: Stream<Count>) {
    let _ = numbers;
}

fn main() {}
