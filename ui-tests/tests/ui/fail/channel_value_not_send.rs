use faust_runtime::prelude::*;
use std::rc::Rc;

pub struct Note {
    pub text: Rc<str>,
}

#[channel(value = Note)]
pub struct Notes;

fn main() {}
