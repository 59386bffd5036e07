#!/usr/bin/env bash
# zlib-ng's code that runs before its CPU detection, or when the CPU lacks a feature, must run on
# any x86-64 CPU: crates/libz-sys/build.rs compiles it with no SIMD flag, and only the files
# named for an instruction set (`*_avx2.c`, `*_avx512*.c`, `*_ssse3.c`, ...) with theirs. This
# checks the objects it made: outside those files, no AVX instruction (VEX or EVEX encoded: a
# mnemonic starting with `v`, or a ymm/zmm/mask register). libz-sys's own cmake-free zlib-ng fails
# exactly this: its `init_functable` executes `vmovdqu8`, and dies of SIGILL without AVX-512.
#
# Usage: ci/check-zlib-isa.sh [TARGET_DIR]   (default: target; after a build of ferry)
set -euo pipefail

target=${1:-target}
if [[ $(uname -m) != x86_64 ]]; then
  echo "check-zlib-isa: not an x86-64 host, nothing to check"
  exit 0
fi
shopt -s nullglob
objects=("$target"/*/build/libz-sys-*/out/obj/*.o)
if ((${#objects[@]} == 0)); then
  echo "check-zlib-isa: no zlib-ng objects under $target/*/build/libz-sys-*/out/obj: build ferry first" >&2
  exit 1
fi

checked=0
bad=0
for object in "${objects[@]}"; do
  name=$(basename "$object")
  case "$name" in
    *_ssse3.o | *_sse41.o | *_sse42.o | *_pclmulqdq.o | *_avx2.o | *_avx512.o | \
      *_avx512_vnni.o | *_vpclmulqdq.o | *x86_features.o)
      continue ;;
  esac
  checked=$((checked + 1))
  # objdump's AT&T syntax: "<address>:<tab><bytes><tab><mnemonic> <operands>".
  found=$(objdump -d --no-show-raw-insn "$object" |
    awk -F'\t' 'NF >= 2 && ($2 ~ /^v[a-z0-9]/ || $2 ~ /%[yz]mm|%k[0-7]/) { print "  " $2 }' |
    head -n 5)
  if [[ -n $found ]]; then
    echo "check-zlib-isa: $object (compiled for every x86-64 CPU) has AVX instructions:" >&2
    echo "$found" >&2
    bad=1
  fi
done
if ((checked == 0)); then
  echo "check-zlib-isa: found only SIMD-specific objects: the file names changed?" >&2
  exit 1
fi
if ((bad)); then
  echo "check-zlib-isa: a file compiled without a SIMD flag got one: see crates/libz-sys/build.rs" >&2
  exit 1
fi
echo "check-zlib-isa: ${#objects[@]} objects, $checked for any x86-64 CPU, no AVX instruction in them"
