//! Runnable examples of faust-rs: see `quickstart.rs` (`cargo run --example quickstart`).
