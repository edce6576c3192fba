//! Project automation, one binary with one command enum.
fn main() {}
