//! Placeholder: replaced by the set-image benchmark.
fn main() {}
