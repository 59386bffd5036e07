#!/usr/bin/env bash
# Records a release's archive checksums in the action's checksums file:
#
#   ci/release/record-checksums.sh VERSION SHA256SUMS [CHECKSUMS]
#
# reads SHA256SUMS (`<sha256>  ferry-VERSION-TARGET.tar.gz` lines, as `sha256sum` writes them)
# and appends `VERSION TARGET SHA256` for each archive of VERSION to CHECKSUMS (default:
# ci/action/checksums.txt), the file ci/action/install.sh trusts. Running it again for the same
# sums changes nothing; different sums for a version already recorded are refused (a release's
# archives never change once published). Used by .github/workflows/release.yml's
# record-checksums job and by tests/release.rs.
set -euo pipefail

fail() {
  echo "record-checksums.sh: $1" >&2
  exit 2
}

(($# == 2 || $# == 3)) || fail "usage: record-checksums.sh VERSION SHA256SUMS [CHECKSUMS]"
version="$1" sums="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
checksums="${3:-$root/ci/action/checksums.txt}"

[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] \
  || fail "version '$version' is not a release name like v0.3.0"
[[ -f "$sums" ]] || fail "no file '$sums': make it with 'sha256sum ferry-*.tar.gz > SHA256SUMS'"
[[ -f "$checksums" ]] || fail "no file '$checksums'"

lines=()
while read -r sha name; do
  [[ -n "${sha:-}" ]] || continue
  name="${name#\*}"
  prefix="ferry-$version-"
  [[ "$name" == "$prefix"*.tar.gz ]] || continue
  target="${name#"$prefix"}"
  target="${target%.tar.gz}"
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || fail "'$sha' for $name is not a SHA-256"
  [[ "$target" =~ ^[a-z0-9_]+(-[a-z0-9_]+){2,3}$ ]] || fail "'$target' in $name is not a target triple"
  lines+=("$version $target $sha")
done < "$sums"
((${#lines[@]})) || fail "$sums lists no archive of $version (ferry-$version-TARGET.tar.gz)"

new=()
for line in "${lines[@]}"; do
  read -r _ target sha <<< "$line"
  recorded="$(awk -v v="$version" -v t="$target" '$1 == v && $2 == t { print $3 }' "$checksums")"
  if [[ -z "$recorded" ]]; then
    new+=("$line")
  elif [[ "$recorded" != "$sha" ]]; then
    fail "$checksums already records $version $target as $recorded, not $sha: a published release does not change; nothing was written"
  fi
done
if ((${#new[@]})); then
  printf '%s\n' "${new[@]}" >> "$checksums"
fi
echo "recorded ${#new[@]} new checksum(s) of $version in $checksums"
