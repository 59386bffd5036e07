#!/usr/bin/env bash
# ferry's real job, end to end, on examples/shop-env: no server, no token, no network.
#
#   bash examples/try-it.sh          # builds ferry (cargo build) the first time
#   bash examples/try-it.sh --keep   # keep the temporary directory to look around afterwards
#
# It commits examples/shop-env into a bare repository in a temporary directory (the environment
# repository Argo CD or Flux would watch) and runs against it what application pipelines run:
# bump, two concurrent bumps, a preview up / list / down, a promotion staging -> production,
# status, history and a rollback, then prints the git log of the repository's branches.
#
# Needs only git and bash (and cargo, unless FERRY names a ferry binary to use). ferry and git
# run with an empty environment (no token, no CI variables, no global or system git config,
# HOME and TMPDIR inside the temporary directory), so nothing outside that directory is read
# or written, and it is removed on exit. Any failing step stops the script with its exit code.
set -Eeuo pipefail
trap 'echo "try-it: step ${step:-0} failed (exit $?)" >&2' ERR

keep=false
case "${1:-}" in
  --keep) keep=true ;;
  "") ;;
  *) echo "usage: bash examples/try-it.sh [--keep]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$SECONDS

command -v git >/dev/null 2>&1 || { echo "try-it: git is needed (Debian: apt-get install git)" >&2; exit 1; }
if [[ -n "${FERRY:-}" ]]; then
  bin=$FERRY
else
  command -v cargo >/dev/null 2>&1 || {
    echo "try-it: cargo is needed to build ferry (https://rustup.rs), or set FERRY to a ferry binary" >&2
    exit 1
  }
  echo "==> Building ferry (cargo build; the first build takes a few minutes)"
  (cd "$root" && cargo build --quiet --bin ferry)
  target=${CARGO_TARGET_DIR:-target}
  [[ "$target" = /* ]] || target=$root/$target
  bin=$target/debug/ferry
fi
[[ -x "$bin" ]] || { echo "try-it: no ferry binary at $bin" >&2; exit 1; }
started_steps=$SECONDS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-try-it.XXXXXX")
if $keep; then
  trap 'echo; echo "(kept $tmp)"' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi
mkdir "$tmp/home" "$tmp/tmp"
repo=$tmp/env.git

# ferry and git see only this environment: no token, no CI, no user configuration.
clean_env=(env -i "PATH=$PATH" "HOME=$tmp/home" "TMPDIR=$tmp/tmp"
  GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null)
ferry() { "${clean_env[@]}" "$bin" "$@"; }
git() {
  "${clean_env[@]}" GIT_AUTHOR_NAME="Shop Team" GIT_AUTHOR_EMAIL=shop-team@example.com \
    GIT_COMMITTER_NAME="Shop Team" GIT_COMMITTER_EMAIL=shop-team@example.com \
    "$(command -v git)" "$@"
}

step=0
section() {
  step=$((step + 1))
  printf '\n==> %d. %s\n' "$step" "$1"
}
# Prints a command the way one would type it ($REPO for the repository), then runs it.
show() {
  local line=$ a
  for a in "$@"; do
    a=${a//"$repo"/\$REPO}
    [[ "$a" == *" "* ]] && a="'$a'"
    line+=" $a"
  done
  printf '%s\n' "$line"
}
run() {
  show ferry "$@"
  ferry "$@" 2>&1
}

section "An environment repository: examples/shop-env committed into a bare repository"
git init -q -b main "$tmp/work"
cp -R "$root/examples/shop-env/." "$tmp/work/"
git -C "$tmp/work" add -A
git -C "$tmp/work" commit -q -m "shop: staging and production environments"
git init -q --bare -b main "$repo"
git -C "$tmp/work" push -q "$repo" main
rm -rf "$tmp/work"
echo "REPO=$repo"
git -C "$repo" log --oneline main

section "ferry bump: a new build of cart goes to staging, one commit pushed to main"
run bump --repo "$repo" --env staging ghcr.io/acme/cart=9d8c7b6 \
  --source-repo https://github.com/acme/cart --source-ref main \
  --source-commit 9d8c7b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c
git -C "$repo" log -1 --format='%h %an: %s%n%b' main

section "Two pipelines at once: cart and cart-worker bumped concurrently, both land"
echo "Both start from the same tip; the push that loses the compare-and-swap fetches the new"
echo "tip, recomputes its edit there and pushes again."
show ferry bump --repo "$repo" --env staging ghcr.io/acme/cart=a1b2c3d "&"
show ferry bump --repo "$repo" --env staging ghcr.io/acme/cart-worker=a1b2c3d "&"
ferry bump --repo "$repo" --env staging ghcr.io/acme/cart=a1b2c3d >"$tmp/cart.out" 2>&1 &
cart=$!
ferry bump --repo "$repo" --env staging ghcr.io/acme/cart-worker=a1b2c3d >"$tmp/worker.out" 2>&1 &
worker=$!
cart_status=0 worker_status=0
wait "$cart" || cart_status=$?
wait "$worker" || worker_status=$?
echo "-- cart (exit $cart_status):"
cat "$tmp/cart.out"
echo "-- cart-worker (exit $worker_status):"
cat "$tmp/worker.out"
((cart_status == 0 && worker_status == 0)) || {
  echo "try-it: a concurrent bump failed" >&2
  exit 1
}
if grep -q retrying "$tmp/cart.out" "$tmp/worker.out"; then
  echo "One push lost the race and was retried on the new tip."
else
  echo "This time the two pushes did not overlap; either way neither update is lost."
fi
git -C "$repo" log --oneline -3 main

section "ferry preview up / list / down: a preview environment on the dynamic-envs branch"
echo "No forge here, so no --mr: the preview is named by its branch (in CI, the merge request's)."
run preview up --repo "$repo" --name feature/one-click-checkout ghcr.io/acme/cart=f00dbab
preview=$(git -C "$repo" ls-tree --name-only dynamic-envs apps/ | grep -v README)
echo "-- $preview on dynamic-envs, what Argo CD deploys:"
git -C "$repo" show "dynamic-envs:$preview"
run preview list --repo "$repo"
run preview down --repo "$repo" --name feature/one-click-checkout
run preview list --repo "$repo"

section "ferry promote: staging's tags to production, pushed"
echo "production has 'update: pull-request' in ferry.yaml; with no forge to open one,"
echo "--via push pushes the promotion commit directly."
run promote --repo "$repo" --to production --via push

section "ferry status: image x environment"
run status --repo "$repo"

section "ferry history: who changed production's cart, when, from which build"
run history --repo "$repo" --env production --image ghcr.io/acme/cart

section "ferry rollback: production's cart back to the version it ran before"
run rollback --repo "$repo" --env production --image ghcr.io/acme/cart --via push \
  --reason "checkout errors after the promotion"
git -C "$repo" log -1 --format='%h %an: %s%n%b' main

section "The environment repository now: git log of its branches"
# One log per branch: dynamic-envs has a history of its own, which one graph would draw as if
# it continued main's.
for branch in $(git -C "$repo" for-each-ref --format='%(refname:short)' refs/heads); do
  echo "-- $branch:"
  git -C "$repo" log --graph --format='%h %an: %s' "$branch"
done

printf '\nDone: %d steps in %d s' "$step" $((SECONDS - started_steps))
if ((started_steps > started)); then
  printf ' (and %d s building ferry)' $((started_steps - started))
fi
printf '.\n'
