# shellcheck shell=bash
# The gateway's libFuzzer targets (gateway/fuzz): their build with clang
# under ASan and UBSan into build/fuzz, the bounded runs of the fuzz suite of
# ./dev test, and ./dev fuzz's longer ones.
# Sourced by ./dev, after build.sh; not a program of its own.
#
# Folders under build/fuzz: gateway/fuzz/<target>_fuzzer (the programs),
# corpus/<target> (what ./dev fuzz found, kept between runs), scratch/<target>
# (what the suite found, emptied before each run), crashes/<target> (inputs
# that crashed, timed out or ran out of memory), logs/ (libFuzzer's output).
# The seeds committed in gateway/fuzz/corpus/<target> are only read.

FUZZ_DIR="$BUILD/fuzz"

# The targets, by name: gateway/fuzz/<name>_fuzzer.cc.
fuzz_targets() {
  local file
  for file in gateway/fuzz/*_fuzzer.cc; do
    file="${file##*/}"
    echo "${file%_fuzzer.cc}"
  done
}

build_fuzz() {
  command -v clang++-14 >/dev/null || die "clang++-14 is missing: ./dev setup installs it"
  say "building the fuzz targets with clang under ASan and UBSan (build/fuzz)"
  local -a programs
  mapfile -t programs < <(fuzz_targets | sed 's/$/_fuzzer/')
  cmake_build "$FUZZ_DIR" OFF -DCMAKE_CXX_COMPILER=clang++-14 -DPOLYMESH_FUZZ=ON \
    -- "${programs[@]}"
}

# One bounded run of `target` over its seeds and what earlier runs kept in
# `corpus` (new inputs go there), for at most `seconds` and `runs` inputs
# (-1: no count). Its log is `log`; crashing inputs go to crashes/<target>/.
# Fails when an input crashed, timed out or ran out of memory.
fuzz_run() { # target corpus seconds runs log
  local target="$1" corpus="$2" seconds="$3" runs="$4" log="$5"
  local crashes="$FUZZ_DIR/crashes/$target"
  local -a options=(
    -max_total_time="$seconds" -runs="$runs" -timeout=25 -rss_limit_mb=2560
    -print_final_stats=1 -artifact_prefix="$crashes/"
  )
  [ -f "gateway/fuzz/$target.dict" ] && options+=(-dict="gateway/fuzz/$target.dict")
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  local t0="${EPOCHREALTIME/./}" status=0
  "$FUZZ_DIR/gateway/fuzz/${target}_fuzzer" "${options[@]}" "$corpus" \
    "gateway/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  # The run's wall time, for the rate of the summary (libFuzzer's own
  # rounds a run under a second to 0/s).
  echo "wall_microseconds: $(( ${EPOCHREALTIME/./} - t0 ))" >>"$log"
  return "$status"
}

# The summary line of a run, from its log: executions, executions per
# second, coverage (edges, features), corpus size, crashes.
fuzz_summary() { # target log status
  local target="$1" log="$2" status="$3"
  awk -v target="$target" -v status="$status" '
    /^#[0-9]+/ {
      for (i = 1; i < NF; i++) {
        if ($i == "cov:") cov = $(i + 1)
        if ($i == "ft:") ft = $(i + 1)
        if ($i == "corp:") { corp = $(i + 1); sub(/\/.*/, "", corp) }
      }
    }
    /^stat::number_of_executed_units:/ { execs = $2 }
    /^wall_microseconds:/ { wall = $2 }
    /Test unit written to/ { crashes++ }
    END {
      rate = wall > 0 ? int(execs * 1000000 / wall) : 0
      printf "  %-22s %8d execs %7d/s  cov %5s  ft %6s  corpus %5s  crashes %d  %s\n",
        target, execs, rate, cov, ft, corp, crashes, status
    }' "$log"
}

# Where a failed run left its input, and the command that reproduces it.
fuzz_reproducer() { # target log
  local input
  input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$2" | tail -n1)"
  tail -n 40 "$2" >&2
  if [ -n "$input" ]; then
    echo "  reproduce: build/fuzz/gateway/fuzz/$1_fuzzer ${input#"$ROOT/"}" >&2
  else
    echo "  no input was written; the log is ${2#"$ROOT/"}" >&2
  fi
}

# The fuzz suite of ./dev test: every target over its seeds and new inputs,
# POLYMESH_FUZZRUNS inputs (default 100000) or 30 s each, whichever comes
# first. New inputs go to a scratch folder, emptied first.
fuzz_suite() {
  build_fuzz || return 1
  local target log failed=0 runs="${POLYMESH_FUZZRUNS:-100000}"
  for target in $(fuzz_targets); do
    log="$FUZZ_DIR/logs/test-$target.log"
    rm -rf "$FUZZ_DIR/scratch/$target"
    if fuzz_run "$target" "$FUZZ_DIR/scratch/$target" 30 "$runs" "$log"; then
      fuzz_summary "$target" "$log" ok
    else
      fuzz_summary "$target" "$log" FAILED
      fuzz_reproducer "$target" "$log"
      failed=1
    fi
  done
  return "$failed"
}

# ./dev fuzz [TARGET...] [--minutes N]: each target (default: all) for N
# minutes (default 10), one after the other, its progress printed every
# 30 s; then one summary line per target.
cmd_fuzz() {
  local minutes=10 target
  local -a targets=() all
  mapfile -t all < <(fuzz_targets)
  while [ $# -gt 0 ]; do
    case "$1" in
      --minutes)
        [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || die "--minutes wants a number of minutes"
        minutes="$2"; shift 2 ;;
      -*) die "usage: ./dev fuzz [TARGET...] [--minutes N] (targets: ${all[*]})" ;;
      *)
        [[ " ${all[*]} " == *" $1 "* ]] || die "no fuzz target $1 (targets: ${all[*]})"
        targets+=("$1"); shift ;;
    esac
  done
  [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
  # The Debian packages only: the fuzz build needs no other part of setup.
  local -a specs
  mapfile -t specs < <(apt_specs all)
  setup_apt "${specs[@]}"
  build_fuzz
  local -a summaries=()
  local failed=0 log pid status
  for target in "${targets[@]}"; do
    log="$FUZZ_DIR/logs/fuzz-$target.log"
    say "fuzzing $target for $minutes min (log: ${log#"$ROOT/"})"
    fuzz_run "$target" "$FUZZ_DIR/corpus/$target" $((minutes * 60)) -1 "$log" &
    pid=$!
    while ! wait_for "$pid" 30; do
      grep -E '^#[0-9]+' "$log" 2>/dev/null | tail -n1 | cut -c1-120 | sed 's/^/  /' || true
    done
    if wait "$pid"; then
      status=ok
    else
      status=FAILED
      fuzz_reproducer "$target" "$log"
      failed=1
    fi
    summaries+=("$(fuzz_summary "$target" "$log" "$status")")
  done
  echo
  say "fuzzing summary (crashing inputs under build/fuzz/crashes/)"
  printf '%s\n' "${summaries[@]}"
  return "$failed"
}

# Waits up to `seconds` for process `pid` to end: true once it has.
wait_for() { # pid seconds
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 1
  done
  ! kill -0 "$1" 2>/dev/null
}
