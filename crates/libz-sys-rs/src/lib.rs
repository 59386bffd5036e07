//! zlib's C API for libgit2 and libssh2, implemented by zlib-rs: see Cargo.toml. The items are
//! libz-rs-sys's (the same names and types as libz-sys's); re-exporting them is also what links
//! libz-rs-sys, whose `export-symbols` functions (`inflate`, `deflate`, `crc32`, …) resolve the
//! calls in libgit2's and libssh2's C archives.

#![no_std]

pub use libz_rs_sys::*;
