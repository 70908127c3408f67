RUST_BACKTRACE=1 cargo test --offline
