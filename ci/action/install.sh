#!/usr/bin/env bash
# The ferry action's install step: puts `ferry` on the job's PATH.
#
# - With a version (FERRY_ACTION_VERSION, e.g. v0.3.0): downloads
#   <base>/<version>/ferry-<version>-<target>.tar.gz and checks its SHA-256
#   against FERRY_ACTION_SHA256, else against the checksum recorded for that version and target in
#   checksums.txt next to this script (so pinning the action's commit pins the binary too).
#   Nothing is installed when the checksum is unknown or differs. <base> is
#   FERRY_ACTION_DOWNLOAD_URL when set (a mirror, GitHub Enterprise Server), else the releases
#   of the repository the action was taken from:
#   <FERRY_ACTION_SERVER_URL>/<FERRY_ACTION_REPOSITORY>/releases/download, which action.yml sets
#   from `github.server_url` and `github.action_repository`.
# - Without: builds ferry from the action's own source with `cargo install --locked`.
#
# Inputs arrive as environment variables only; the runner provides RUNNER_OS, RUNNER_ARCH,
# RUNNER_TEMP and GITHUB_PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_root="$(cd "$here/../.." && pwd)"
prefix="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/ferry-action"
bin="$prefix/bin"
mkdir -p "$bin"

fail() {
  # An annotation on the run's page, and the same words in the log.
  local message="$1"
  # Workflow command data: '%', CR and LF escaped, so that no input can end the command or
  # start another (the runner splits lines at CR too).
  message="${message//'%'/'%25'}"
  message="${message//$'\r'/'%0D'}"
  message="${message//$'\n'/'%0A'}"
  echo "::error title=ferry action::$message"
  exit 2
}

version="${FERRY_ACTION_VERSION:-}"
if [[ -z "$version" ]]; then
  command -v cargo >/dev/null 2>&1 \
    || fail "no 'version' input and no cargo on this runner: set 'version' to a ferry release, or install a Rust toolchain before this step"
  echo "Building ferry from the action's source ($source_root) with cargo"
  cargo install --locked --quiet --path "$source_root" --root "$prefix" --bin ferry
else
  [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] \
    || fail "version '$version' is not a release name like v0.3.0"
  case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64) target=aarch64-unknown-linux-musl ;;
    macOS/X64) target=x86_64-apple-darwin ;;
    macOS/ARM64) target=aarch64-apple-darwin ;;
    *) fail "no ferry release for runner ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}: leave 'version' empty to build from source" ;;
  esac
  archive="ferry-$version-$target.tar.gz"
  base="${FERRY_ACTION_DOWNLOAD_URL:-}"
  if [[ -z "$base" ]]; then
    # Where this action lives. The runner leaves github.action_repository empty for an action
    # used from a local path (`uses: ./`) and, in some runner versions, for a composite action
    # used inside another composite action: then only an explicit download-url can say.
    repository="${FERRY_ACTION_REPOSITORY:-}"
    [[ -n "$repository" ]] \
      || fail "the action's own repository is unknown here (github.action_repository is empty, e.g. for 'uses: ./'): set the 'download-url' input to where ferry's releases are, or leave 'version' empty to build from source"
    [[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] \
      || fail "the action's repository '$repository' is not OWNER/NAME: set the 'download-url' input"
    server="${FERRY_ACTION_SERVER_URL:-${GITHUB_SERVER_URL:-https://github.com}}"
    base="${server%/}/$repository/releases/download"
  fi
  url="${base%/}/$version/$archive"
  expected="${FERRY_ACTION_SHA256:-}"
  if [[ -z "$expected" && -f "$here/checksums.txt" ]]; then
    expected="$(awk -v v="$version" -v t="$target" '$1 == v && $2 == t { print $3 }' "$here/checksums.txt")"
  fi
  expected="$(printf '%s' "$expected" | tr 'A-F' 'a-f')"
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] \
    || fail "no SHA-256 known for $archive: pass the 'sha256' input (from the release's SHA256SUMS), or use an action commit whose ci/action/checksums.txt records $version"
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  echo "Downloading $url"
  curl --fail --silent --show-error --location --retry 3 --output "$download/$archive" "$url" \
    || fail "could not download $url: check the 'version' and 'download-url' inputs"
  if command -v sha256sum >/dev/null 2>&1; then
    actual="$(sha256sum "$download/$archive" | cut -d' ' -f1)"
  else
    actual="$(shasum -a 256 "$download/$archive" | cut -d' ' -f1)"
  fi
  [[ "$actual" == "$expected" ]] \
    || fail "SHA-256 of $archive is $actual, expected $expected: the download is not the release that was pinned; nothing was installed"
  tar -xzf "$download/$archive" -C "$download" ferry \
    || fail "$archive holds no 'ferry' at its top level"
  install -m 0755 "$download/ferry" "$bin/ferry"
fi

echo "$bin" >> "${GITHUB_PATH:?GITHUB_PATH is not set: this script runs as a GitHub Actions step}"
"$bin/ferry" --version
