use faust_runtime::prelude::*;

#[topic(pattern = "events-.*", value = u64)]
pub struct NoCaret;

#[topic(pattern = "^events-(", value = u64)]
pub struct NotARegex;

#[topic(name = "events", pattern = "^events-.*", value = u64)]
pub struct Both;

fn main() {}
