# shellcheck shell=bash
# Messages, root, and the phases of a command with their times.
# Sourced by ./dev, after versions.sh; not a program of its own.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'dev: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- phases and their times ------------------------------------------------
# `phase NAME command...` runs a command and records how long it took;
# `background NAME command...` runs one beside the rest (a compilation that
# nothing needs until later), its output in build/logs/, and
# `wait_background` waits for each, failing with its log's tail if it
# failed. The demo ends with the table (print_phases).
T0="${EPOCHREALTIME/./}"
PHASES=()
BACKGROUND=()
phase() {
  local name="$1" t0="${EPOCHREALTIME/./}"; shift
  "$@"
  PHASES+=("$name:$(( ${EPOCHREALTIME/./} - t0 ))")
}

background() {
  local name="$1" log="$BUILD/logs/${1// /-}.log"; shift
  mkdir -p "$BUILD/logs"
  say "$name: in the background (log: ${log#"$ROOT/"})"
  (
    t0="${EPOCHREALTIME/./}"
    trap 'echo "$(( ${EPOCHREALTIME/./} - t0 ))" >"$log.time"' EXIT
    "$@"
  ) >"$log" 2>&1 </dev/null &
  BACKGROUND+=("$!:$name:$log")
}

wait_background() {
  local job pid name log
  for job in "${BACKGROUND[@]}"; do
    pid="${job%%:*}" name="${job#*:}" log="${name#*:}" name="${name%%:*}"
    if ! wait "$pid"; then
      tail -n 30 "$log" >&2
      die "$name failed; its log is $log"
    fi
    PHASES+=("$name (in parallel):$(cat "$log.time")")
  done
  BACKGROUND=()
}

seconds() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }

print_phases() {
  local p
  say "time per phase"
  for p in "${PHASES[@]}"; do
    printf '  %-32s %7.1f s\n' "${p%:*}" "$(seconds "${p##*:}")"
  done
  printf '  %-32s %7.1f s\n' "wall clock" "$(seconds $(( ${EPOCHREALTIME/./} - T0 )))"
}
