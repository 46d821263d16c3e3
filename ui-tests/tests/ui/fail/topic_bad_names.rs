use faust_runtime::prelude::*;

// Both a single name and a list.
#[topic(name = "a", names = ["b", "c"], value = u64)]
pub struct Both;

// A name listed twice, and one that is not a topic name.
#[topic(names = ["clicks", "clicks", "no spaces"], value = u64)]
pub struct Twice;

// Not a list.
#[topic(names = "clicks", value = u64)]
pub struct NotAList;

fn main() {}
