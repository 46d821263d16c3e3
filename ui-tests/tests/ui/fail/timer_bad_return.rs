use faust_runtime::prelude::*;

#[timer(interval = "1s")]
async fn tick() -> Option<u32> {
    None
}

fn main() {}
