use faust_runtime::prelude::*;

pub struct Plain;

#[agent(handle = Count, value = Plain)]
async fn count(numbers: Stream<Count>) {
    let _ = numbers;
}

fn main() {}
