use faust_runtime::prelude::*;

#[timer(interval = "5s")]
async fn tick() {}

faust_runtime::main!(broker = "memory://");
