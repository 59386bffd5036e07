//! Builds zlib-ng (`zlib-ng/`, version 2.3.3, zlib-compatible API) into the static library `z`
//! with the C compiler alone, and publishes the directory of its `zlib.h` to dependents
//! (`DEP_Z_INCLUDE`).
//!
//! Each source file gets the flags zlib-ng's own CMakeLists.txt gives it (read from cmake's
//! compile commands for x86_64 Linux, and from CMakeLists.txt and cmake/detect-intrinsics.cmake
//! for aarch64): the generic code is compiled for the target's baseline only, each SIMD variant
//! with its own instruction set, and zlib-ng picks the variants at run time from what the CPU has.
//! That is what keeps the library from executing an instruction the CPU lacks. x86_64 and aarch64
//! (the targets ferry is released for) get zlib-ng's optimized code; every other target, and MSVC,
//! gets zlib-ng's portable C code.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Files compiled together with the same extra flags.
struct Group {
    flags: &'static [&'static str],
    files: &'static [&'static str],
}

/// The sources every target compiles with no extra flag (paths under `zlib-ng/`, without `.c`).
const COMMON: &[&str] = &[
    "adler32",
    "compress",
    "cpu_features",
    "crc32",
    "crc32_braid_comb",
    "deflate",
    "deflate_fast",
    "deflate_huff",
    "deflate_medium",
    "deflate_quick",
    "deflate_rle",
    "deflate_slow",
    "deflate_stored",
    "functable",
    "infback",
    "inflate",
    "inftrees",
    "insert_string",
    "insert_string_roll",
    "trees",
    "uncompr",
    "zutil",
    "arch/generic/adler32_c",
    "arch/generic/adler32_fold_c",
    "arch/generic/crc32_braid_c",
    "arch/generic/crc32_fold_c",
    "arch/generic/crc32_chorba_c",
];

/// The generic versions of what x86_64's baseline (SSE2) does faster: every target but x86_64
/// compiles them (cmake's `WITH_ALL_FALLBACKS`).
const FALLBACK_GROUP: Group = Group {
    flags: &[],
    files: &[
        "arch/generic/chunkset_c",
        "arch/generic/compare256_c",
        "arch/generic/slide_hash_c",
    ],
};

const X86_64: &[Group] = &[
    Group {
        flags: &[],
        files: &[
            "arch/x86/chunkset_sse2",
            "arch/x86/chorba_sse2",
            "arch/x86/compare256_sse2",
            "arch/x86/slide_hash_sse2",
        ],
    },
    Group {
        flags: &["-mxsave"],
        files: &["arch/x86/x86_features"],
    },
    Group {
        flags: &["-mssse3"],
        files: &["arch/x86/adler32_ssse3", "arch/x86/chunkset_ssse3"],
    },
    Group {
        flags: &["-msse4.1"],
        files: &["arch/x86/chorba_sse41"],
    },
    Group {
        flags: &["-msse4.2"],
        files: &["arch/x86/adler32_sse42"],
    },
    Group {
        flags: &["-msse4.2", "-mpclmul"],
        files: &["arch/x86/crc32_pclmulqdq"],
    },
    Group {
        flags: &["-mavx2", "-mbmi2"],
        files: &[
            "arch/x86/slide_hash_avx2",
            "arch/x86/chunkset_avx2",
            "arch/x86/compare256_avx2",
            "arch/x86/adler32_avx2",
        ],
    },
    Group {
        flags: &[
            "-mavx512f",
            "-mavx512dq",
            "-mavx512bw",
            "-mavx512vl",
            "-mbmi2",
            "-mtune=cascadelake",
        ],
        files: &[
            "arch/x86/adler32_avx512",
            "arch/x86/chunkset_avx512",
            "arch/x86/compare256_avx512",
        ],
    },
    Group {
        flags: &[
            "-mavx512f",
            "-mavx512dq",
            "-mavx512bw",
            "-mavx512vl",
            "-mavx512vnni",
            "-mbmi2",
            "-mtune=cascadelake",
        ],
        files: &["arch/x86/adler32_avx512_vnni"],
    },
    Group {
        flags: &[
            "-mpclmul",
            "-mvpclmulqdq",
            "-mavx512f",
            "-mavx512dq",
            "-mavx512bw",
            "-mavx512vl",
            "-mbmi2",
            "-mtune=cascadelake",
        ],
        files: &["arch/x86/crc32_vpclmulqdq"],
    },
];

const X86_64_DEFINES: &[&str] = &[
    "X86_FEATURES",
    "X86_SSE2",
    "X86_SSSE3",
    "X86_SSE41",
    "X86_SSE42",
    "X86_PCLMULQDQ_CRC",
    "X86_AVX2",
    "X86_AVX512",
    "X86_AVX512VNNI",
    "X86_VPCLMULQDQ_CRC",
    "HAVE_CPUID_GNU",
    "X86_HAVE_XSAVE_INTRIN",
];

const AARCH64: &[Group] = &[
    Group {
        flags: &[],
        files: &["arch/arm/arm_features"],
    },
    Group {
        flags: &["-march=armv8-a+crc"],
        files: &["arch/arm/crc32_armv8"],
    },
    Group {
        flags: &["-march=armv8-a+simd"],
        files: &[
            "arch/arm/adler32_neon",
            "arch/arm/chunkset_neon",
            "arch/arm/compare256_neon",
            "arch/arm/slide_hash_neon",
        ],
    },
];

const AARCH64_DEFINES: &[&str] = &[
    "ARM_FEATURES",
    "ARM_CRC32",
    "ARM_CRC32_INTRIN",
    "HAVE_ARM_ACLE_H",
    "ARM_NEON",
    "ARM_NEON_HASLD4",
];

/// What the target gets: the defines of its optimized code and the groups of files.
enum Arch {
    X86_64,
    Aarch64,
    Portable,
}

fn main() {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let manifest = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(var("OUT_DIR"));
    let src = manifest.join("zlib-ng");
    let msvc = var("CARGO_CFG_TARGET_ENV") == "msvc";
    let os = var("CARGO_CFG_TARGET_OS");
    let arch = match (var("CARGO_CFG_TARGET_ARCH").as_str(), msvc) {
        ("x86_64", false) => Arch::X86_64,
        ("aarch64", false) => Arch::Aarch64,
        _ => Arch::Portable,
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=zlib-ng");

    let include = out.join("include");
    headers(&src, &include, msvc);

    let mut defines: Vec<&str> = vec!["ZLIB_COMPAT"];
    if !msvc {
        defines.extend([
            "HAVE_ATTRIBUTE_ALIGNED",
            "HAVE_BUILTIN_ASSUME_ALIGNED",
            "HAVE_BUILTIN_CTZ",
            "HAVE_BUILTIN_CTZLL",
            "HAVE_VISIBILITY_HIDDEN",
            "HAVE_VISIBILITY_INTERNAL",
            "__USE_LARGEFILE64",
        ]);
    }
    if matches!(os.as_str(), "linux" | "android") {
        defines.push("HAVE_SYS_AUXV_H");
    }
    let mut groups: Vec<&Group> = vec![&Group {
        flags: &[],
        files: COMMON,
    }];
    match arch {
        Arch::X86_64 => {
            defines.push("WITH_OPTIM");
            defines.extend(X86_64_DEFINES);
            groups.extend(X86_64);
        }
        Arch::Aarch64 => {
            defines.extend(["WITH_OPTIM", "WITH_ALL_FALLBACKS"]);
            defines.extend(AARCH64_DEFINES);
            if matches!(os.as_str(), "linux" | "android") {
                defines.push("ARM_AUXV_HAS_CRC32");
            }
            groups.push(&FALLBACK_GROUP);
            groups.extend(AARCH64);
        }
        Arch::Portable => {
            defines.push("WITH_ALL_FALLBACKS");
            groups.push(&FALLBACK_GROUP);
        }
    }

    let (obj, lib) = (out.join("obj"), out.join("lib"));
    for dir in [&obj, &lib] {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    let mut objects = Vec::new();
    for group in groups {
        let mut build = cc::Build::new();
        build
            .warnings(false)
            .include(&include)
            .include(&src)
            .out_dir(&obj);
        if !msvc {
            build.std("c11").define("_LARGEFILE64_SOURCE", "1");
        }
        for define in &defines {
            build.define(define, None);
        }
        for flag in group.flags {
            build.flag(flag);
        }
        for file in group.files {
            build.file(src.join(format!("{file}.c")));
        }
        objects.extend(build.compile_intermediates());
    }
    cc::Build::new().objects(objects).out_dir(&lib).compile("z");

    println!("cargo:root={}", out.display());
    println!("cargo:include={}", include.display());
}

/// Writes the public headers the way zlib-ng's cmake does for a build with no symbol prefix:
/// `zlib.h` and `zconf.h` from their `.in` files without `@ZLIB_SYMBOL_PREFIX@`, and the empty
/// name mangling header. Outside MSVC, `zconf.h` includes unistd.h, as cmake's configure step
/// decides on any POSIX system (without it, some 32-bit targets get the wrong size for off_t).
fn headers(src: &Path, include: &Path, msvc: bool) {
    let read = |name: &str| {
        fs::read_to_string(src.join(name))
            .unwrap_or_else(|e| panic!("reading zlib-ng/{name}: {e}"))
            .replace("@ZLIB_SYMBOL_PREFIX@", "")
    };
    let write = |name: &str, text: &str| {
        fs::write(include.join(name), text)
            .unwrap_or_else(|e| panic!("writing {name} in {}: {e}", include.display()))
    };
    fs::create_dir_all(include).unwrap_or_else(|e| panic!("creating {}: {e}", include.display()));
    let mut zconf = read("zconf.h.in");
    if !msvc {
        zconf = zconf.replace(
            "#ifdef HAVE_UNISTD_H    /* may be set to #if 1 by configure/cmake/etc */",
            "#if 1    /* was set to #if 1 by configure/cmake/etc */",
        );
    }
    write("zconf.h", &zconf);
    write("zlib.h", &read("zlib.h.in"));
    write("zlib_name_mangling.h", &read("zlib_name_mangling.h.empty"));
}
