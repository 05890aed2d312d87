# shellcheck shell=bash
# ./dev build: code generated from proto/, the C++ and Go builds, the models.
# Sourced by ./dev, after setup.sh; not a program of its own.

# --- build -----------------------------------------------------------------
gen_code() {
  local protos
  # proto/grpc/ holds gRPC's own protocols (reflection, health) for the
  # gateway's C++ build; Go and Python take them from their gRPC libraries.
  mapfile -t protos < <(cd proto && find . -name '*.proto' -not -path './grpc/*' | sed 's|^\./||' | sort)
  local stamp="$GEN/.stamp" want
  want="$( (cd proto && cat "${protos[@]}"); printf '%s\n' "${GO_TOOLS[@]}"; cat requirements.lock)"
  want="$(printf '%s' "$want" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "generating Go and Python code from proto/"
  rm -rf "$GEN" && mkdir -p "$GEN/go" "$GEN/python"
  (cd proto && protoc -I . \
    --go_out="$GEN/go" --go_opt=module=github.com/polymesh/polymesh/gen/go \
    --go-grpc_out="$GEN/go" --go-grpc_opt=module=github.com/polymesh/polymesh/gen/go \
    "${protos[@]}")
  (cd proto && "$VENV/bin/python" -m grpc_tools.protoc -I . \
    --python_out="$GEN/python" --pyi_out="$GEN/python" --grpc_python_out="$GEN/python" \
    "${protos[@]}")
  # Python packages for every proto package folder.
  find "$GEN/python" -mindepth 1 -type d -exec touch {}/__init__.py \;
  echo "$want" >"$stamp"
}

cmake_build() { # dir tests(ON|OFF) [cmake args...] -- [targets...]
  local dir="$1" tests="$2"; shift 2
  local -a args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift && targets=("$@")
  # Configure once; a build configured without the tests gets them when a
  # later command needs them (never the other way round: nothing is lost).
  if [ ! -f "$dir/build.ninja" ] ||
    { [ "$tests" = ON ] && ! grep -q '^POLYMESH_BUILD_TESTS:BOOL=ON$' "$dir/CMakeCache.txt"; }; then
    cmake -S "$ROOT" -B "$dir" -G Ninja -DPOLYMESH_BUILD_TESTS="$tests" "${args[@]}" >/dev/null
  fi
  cmake --build "$dir" -j "$(nproc)" ${targets[@]+--target "${targets[@]}"}
}

build_go() {
  mkdir -p "$BUILD/bin"
  go mod download
  go build -o "$BUILD/bin/" ./services/...
}

build_level() { # demo | all
  setup_level "$1"
  phase "code generation" gen_code
  # The Go services compile beside the C++ build.
  background "Go build" build_go
  phase models setup_models
  if [ "$1" = demo ]; then
    # Only what the demo runs: the gateway and the contracts' descriptor set.
    say "building the C++ gateway (build/cmake)"
    phase "C++ build" cmake_build "$BUILD/cmake" OFF -- polymesh-gateway polymesh_descriptors
  else
    say "building C++ (build/cmake)"
    phase "C++ build" cmake_build "$BUILD/cmake" ON
  fi
  wait_background
  write_versions
}

cmd_build() { build_level all; }

setup_models() {
  [ -f services/inference/pyproject.toml ] || return 0
  if [ ! -f "$BUILD/models/.complete" ]; then
    say "training and exporting the model repository (build/models)"
    "$VENV/bin/python" -m polymesh_inference.train --repository "$BUILD/models"
  fi
}
