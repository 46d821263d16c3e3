//! Compile tests of the faust-rs macros, run by `cargo test -p ui-tests`.
//!
//! `tests/ui/pass/*.rs` must build; each of `tests/ui/fail/*.rs` makes one mistake and must fail
//! with the message checked in next to it (`.stderr`). After changing a message on purpose,
//! regenerate them with `TRYBUILD=overwrite cargo test -p ui-tests` and review the diff.
