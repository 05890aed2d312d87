# shellcheck shell=bash
# ./dev test: its suites, one after the other, and their report.
# Sourced by ./dev, after build.sh; not a program of its own.

# --- test ------------------------------------------------------------------
RESULTS=()
suite() { # name command...
  local name="$1"; shift
  say "test: $name"
  if "$@"; then RESULTS+=("$name:ok"); else RESULTS+=("$name:FAILED"); fi
}

report() {
  local passed=0 failed=0 r
  echo
  for r in "${RESULTS[@]}"; do
    printf '  %-12s %s\n' "${r%%:*}" "${r#*:}"
    if [ "${r#*:}" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  echo "suites: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

cmd_lint() {
  buf lint
  go vet ./...
  ruff check .
  ruff format --check .
}

# The suites of ./dev test, in order: name, then the command.
test_suite() { # name
  case "$1" in
    pins) suite pins check_pins ;;
    lint) suite lint cmd_lint ;;
    ctest) suite ctest ctest --test-dir "$BUILD/cmake" --output-on-failure -j "$(nproc)" ;;
    go) suite go go test -race -count=1 ./... ;;
    go-fuzz) suite go-fuzz go_fuzz ;;
    fuzz) suite fuzz fuzz_suite ;;
    pytest) suite pytest "$VENV/bin/python" -m pytest -q ;;
    compose) suite compose compose_test_stack ;;
    *) die "no test suite $1 (suites: ${TEST_SUITES[*]}, asan)" ;;
  esac
}
TEST_SUITES=(pins lint ctest fuzz go go-fuzz pytest compose)

cmd_test() { # [asan | suite...]
  if [ "${1:-}" = asan ]; then
    cmd_build
    say "building C++ with ASan/UBSan (build/asan)"
    cmake_build "$BUILD/asan" ON -DPOLYMESH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    suite ctest-asan ctest --test-dir "$BUILD/asan" --output-on-failure -j "$(nproc)"
    report
    return
  fi
  local name
  for name in "$@"; do
    [[ " ${TEST_SUITES[*]} " == *" $name "* ]] || die "no test suite $name (suites: ${TEST_SUITES[*]}, asan)"
  done
  cmd_build
  for name in "${@:-${TEST_SUITES[@]}}"; do test_suite "$name"; done
  report
}

# Every Go fuzz target (func FuzzXxx in a _test.go file), each for a bounded
# number of calls: POLYMESH_FUZZEXECS (default 50000, some 5 to 15 s each here).
# New inputs that fail are written under the package's testdata/fuzz and make
# the suite red.
#
# The bound is a count, not a duration: with a duration, Go's fuzzing
# coordinator before Go 1.27 can report its own deadline as a failure
# ("context deadline exceeded", no input written; golang/go#75804). A count
# sets no deadline. Minimising new inputs is off: it runs under a deadline of
# its own.
go_fuzz() {
  local file dir name execs="${POLYMESH_FUZZEXECS:-50000}"
  while IFS= read -r file; do
    dir="./$(dirname "$file")"
    for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
      echo "fuzzing $name in $dir for $execs calls"
      go test -run '^$' -fuzz "^$name\$" -fuzztime "${execs}x" -fuzzminimizetime 0 \
        -parallel 2 "$dir" || return 1
    done
  done < <(grep -rl --include='*_test.go' '^func Fuzz' services gateway clients tests 2>/dev/null | sort)
}
