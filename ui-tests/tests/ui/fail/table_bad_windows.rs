use faust_runtime::prelude::*;

#[table(name = "a", key = String, value = u64, hopping = "10s")]
struct NoStep;

#[table(name = "b", key = String, value = u64, tumbling = "10s", step = "5s")]
struct StepOnTumbling;

#[table(name = "c", key = String, value = u64, expires = "1h")]
struct ExpiresWithoutWindows;

#[table(name = "d", key = String, value = u64, tumbling = "0s")]
struct ZeroWindow;

fn main() {}
