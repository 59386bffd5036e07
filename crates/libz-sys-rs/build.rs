//! Publishes the directory of zlib.h and zconf.h (`links = "z"`: dependents read it as
//! `DEP_Z_INCLUDE`; libgit2-sys and libssh2-sys add it to their C include path). The headers are
//! libz-rs-sys's own (zlib 1.3's interface, zlib's license), kept in `include/`.

use std::env;
use std::path::PathBuf;

fn main() {
    let dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let include = dir.join("include");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:include={}", include.display());
    println!("cargo:root={}", dir.display());
}
