//! The `bootstrap` executable Lambda's `provided.al2023` runtime starts.

fn main() {}
