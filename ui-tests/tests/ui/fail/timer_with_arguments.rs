use faust_runtime::prelude::*;

#[timer(interval = "5s")]
async fn tick(count: u64) {
    let _ = count;
}

fn main() {}
