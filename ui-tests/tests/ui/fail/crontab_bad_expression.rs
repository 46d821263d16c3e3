use faust_runtime::prelude::*;

#[crontab("*/5 * * *", timezone = "Europe/Paris")]
async fn report() {}

fn main() {}
