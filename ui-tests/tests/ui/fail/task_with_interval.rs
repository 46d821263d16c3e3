use faust_runtime::prelude::*;

#[task(interval = "1s")]
async fn warm_up(n: u32) {
    let _ = n;
}

fn main() {}
