rustc --edition 2021 -o /tmp/cairn-diag.9LErUn/rustc-out main.rs
