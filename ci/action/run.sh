#!/usr/bin/env bash
# The ferry action's run step: turns the action's inputs (environment variables, never pasted
# into the script) into one ferry command line and runs it. ferry itself writes the step's
# outputs ($GITHUB_OUTPUT), the step summary and annotations, and masks the tokens it sees.
set -uo pipefail

fail() {
  local message="$1"
  # Workflow command data: '%', CR and LF escaped, so that no input can end the command or
  # start another (the runner splits lines at CR too).
  message="${message//'%'/'%25'}"
  message="${message//$'\r'/'%0D'}"
  message="${message//$'\n'/'%0A'}"
  echo "::error title=ferry action::$message"
  echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"
  exit 2
}

# The command: one to three words of letters and dashes (`bump`, `preview up`).
read -r -a words <<< "${FERRY_ACTION_COMMAND:-bump}"
((${#words[@]} >= 1 && ${#words[@]} <= 3)) || fail "the 'command' input is empty or too long"
for word in "${words[@]}"; do
  [[ "$word" =~ ^[a-z][a-z-]*$ ]] || fail "the 'command' input holds '$word': give a ferry command such as 'bump' or 'preview up'"
done
args=("${words[@]}")

# Connection: through ferry's own environment variables (never on the command line).
[[ -n "${FERRY_ACTION_REPO:-}" ]] && export FERRY_REPO="$FERRY_ACTION_REPO"
[[ -n "${FERRY_ACTION_TOKEN:-}" ]] && export FERRY_TOKEN="$FERRY_ACTION_TOKEN"
[[ -n "${FERRY_ACTION_FORGE:-}" ]] && export FERRY_FORGE="$FERRY_ACTION_FORGE"

environment="${FERRY_ACTION_ENVIRONMENT:-}"
if [[ -n "$environment" ]]; then
  case "${words[0]}" in
    bump | merge | rollback | wait | history | status) args+=("--env=$environment") ;;
    promote) args+=("--to=$environment") ;;
    *) fail "the 'environment' input does not apply to 'ferry ${words[*]}'; pass it in 'args'" ;;
  esac
fi

case "${FERRY_ACTION_DRY_RUN:-false}" in
  true) args+=(--dry-run) ;;
  false | '') ;;
  *) fail "the 'dry-run' input is '${FERRY_ACTION_DRY_RUN}': use true or false" ;;
esac

# More arguments: one per line, taken as they are.
if [[ -n "${FERRY_ACTION_ARGS:-}" ]]; then
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    [[ -n "${line//[[:space:]]/}" ]] && args+=("$line")
  done <<< "$FERRY_ACTION_ARGS"
fi

# Images: NAME=TAG for bump and preview up; names for promote and rollback.
images=()
read -r -d '' -a images <<< "${FERRY_ACTION_IMAGES:-}" || true
for image in "${images[@]}"; do
  [[ "$image" != -* ]] || fail "the 'images' input holds '$image', which is not an image"
  case "${words[0]}" in
    promote | rollback | history | status) args+=("--image=$image") ;;
    *) images_positional=1 ;;
  esac
done
if [[ -n "${images_positional:-}" ]]; then
  args+=(--)
  args+=("${images[@]}")
fi

ferry "${args[@]}"
code=$?
echo "exit-code=$code" >> "${GITHUB_OUTPUT:-/dev/null}"
if [[ "$code" == 11 && "${FERRY_ACTION_WAITING_IS_SUCCESS:-false}" == true ]]; then
  echo "ferry is waiting (exit 11): treated as success (waiting-is-success)"
  exit 0
fi
exit "$code"
