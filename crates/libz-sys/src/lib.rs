//! ferry's `libz-sys`: no Rust interface of its own. Its build script compiles zlib-ng (zlib's C
//! API, `ZLIB_COMPAT`) into a static library `z` that libgit2 and libssh2 link; dependents
//! `extern crate libz_sys` so that the library is linked after their archives. See Cargo.toml.
#![no_std]
