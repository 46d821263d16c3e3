use faust_runtime::prelude::*;

#[table(name = "a", key = String, value = u64, sliding = "10s", tumbling = "1m")]
struct SlidingAndTumbling;

#[table(name = "b", key = String, value = u64, hopping = "10s", step = "5s", before = "1s")]
struct HoppingAndBefore;

#[table(name = "c", key = String, value = u64, sliding = "10s", after = "5s")]
struct SlidingAndAfter;

#[table(name = "d", key = String, value = u64, before = "1m", step = "10s")]
struct SlidingWithStep;

#[table(name = "e", key = String, value = u64, before = "0s", after = "0s")]
struct NoReach;

#[table(name = "f", key = String, value = u64, sliding = "0s")]
struct ZeroSliding;

#[table(name = "g", key = String, value = u64, tumbling = "1m", relative_to = "field")]
struct RelativeToField;

#[table(name = "h", key = String, value = u64, tumbling = "1m", relative_to = "wall")]
struct RelativeToWhat;

#[table(name = "i", key = String, value = u64, relative_to = "now")]
struct RelativeWithoutWindows;

#[table(kind = "set", name = "j", key = String, value = String, sliding = "1m")]
struct SlidingSet;

fn main() {}
