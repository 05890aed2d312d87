# shellcheck shell=bash
# ./dev setup: Debian packages, Go tools and programs, the Python
# environment, build/versions.txt; and the pins suite of ./dev test.
# Sourced by ./dev, after versions.sh and lib.sh; not a program of its own.

# Where the Go tools and programs live: folders of the polymesh cache, one
# per set of pinned versions, shared by every checkout.
tools_key() { printf '%s\n' "${GO_TOOLS[@]}" "$JAEGER_MODULE@$JAEGER_VERSION" "$(go env GOVERSION)" | sha256sum | cut -c1-12; }
TOOLS="$CACHE/tools-$(tools_key)"
PROMTOOL_DIR="$CACHE/promtool-$PROMETHEUS_VERSION"
GHZ_DIR="$CACHE/ghz-$GHZ_VERSION"
export PATH="$TOOLS/bin:$PROMTOOL_DIR/bin:$GHZ_DIR/bin:$VENV/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# --- setup -----------------------------------------------------------------
# Two levels: `demo` installs what ./dev demo builds and runs; `all` (./dev
# setup, ./dev test) adds what only tests and benchmarks use.
apt_specs() { # level: the APT_PACKAGES specs of that level
  local spec
  for spec in "${APT_PACKAGES[@]}"; do
    if [ "$1" = demo ] && [[ " ${APT_TEST_ONLY[*]} " == *" ${spec%%=*} "* ]]; then continue; fi
    echo "$spec"
  done
}

apt_missing() { # spec...: the names of those not installed at a matching version
  local spec name want have
  for spec in "$@"; do
    name="${spec%%=*}" want="${spec#*=}"
    have="$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)"
    # shellcheck disable=SC2053 # the version is a glob
    [[ "$have" == "install ok installed "$want ]] || echo "$name"
  done
}

enable_backports() {
  # Reuse the Debian mirror this machine is already configured with.
  local list=/etc/apt/sources.list.d/polymesh-backports.sources uri
  [ -f "$list" ] && return 0
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$uri" ] || uri="$(grep -hs '^deb ' /etc/apt/sources.list | awk '$3 == "bookworm" {print $2}' | head -n1 || true)"
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt to enable bookworm-backports from"
  say "enabling bookworm-backports from the configured mirror"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
    as_root tee "$list" >/dev/null
}

setup_apt() { # spec...: installs those not installed at a matching version
  local missing
  missing="$(apt_missing "$@")"
  [ -n "$missing" ] || return 0
  say "installing Debian packages: $(echo "$missing" | tr '\n' ' ')"
  enable_backports
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@"
  missing="$(apt_missing "$@")"
  [ -z "$missing" ] || die "Debian packages still missing: $(echo "$missing" | tr '\n' ' ')"
}

# The Prometheus release that PROMETHEUS_VERSION numbers: v0.313.5 -> 3.13.5.
prometheus_release() {
  local r="${PROMETHEUS_VERSION#v0.3}"
  echo "3.$((10#${r%%.*})).${r#*.}"
}

go_module_dir() { # module@version: downloads it, prints its folder
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

setup_go_tools() { # level: the go install'ed tools (protoc plugins; buf)
  mkdir -p "$TOOLS/bin"
  local tool bin
  for tool in "${GO_TOOLS[@]}"; do
    bin="${tool%@*}"; bin="${bin##*/}"
    if [ "$1" = demo ] && [[ " ${GO_TEST_ONLY_TOOLS[*]} " == *" $bin "* ]]; then continue; fi
    if [ ! -x "$TOOLS/bin/$bin" ]; then
      say "go install $tool"
      GOBIN="$TOOLS/bin" go install "$tool"
    fi
  done
}

go_programs_missing() { # level: true when a program setup_go_programs builds is missing
  [ ! -x "$TOOLS/bin/jaeger" ] ||
    { [ "$1" = all ] && { [ ! -x "$PROMTOOL_DIR/bin/promtool" ] || [ ! -x "$GHZ_DIR/bin/ghz" ]; }; }
}

setup_go_programs() { # level: the programs built from their Go modules
  mkdir -p "$TOOLS/bin"
  if [ ! -x "$TOOLS/bin/jaeger" ]; then
    # `go install` refuses modules with replace directives, so build it from
    # the downloaded module.
    say "building Jaeger $JAEGER_VERSION"
    local dir
    dir="$(go_module_dir "$JAEGER_MODULE@$JAEGER_VERSION")"
    (cd "$dir" && go build -trimpath -ldflags="-s -w" -o "$TOOLS/bin/jaeger.partial" ./cmd/jaeger)
    mv "$TOOLS/bin/jaeger.partial" "$TOOLS/bin/jaeger"
  fi
  if [ "$1" = all ] && [ ! -x "$PROMTOOL_DIR/bin/promtool" ]; then
    say "building promtool of $PROMETHEUS_MODULE $PROMETHEUS_VERSION"
    local pdir release
    release="$(prometheus_release)"
    pdir="$(go_module_dir "$PROMETHEUS_MODULE@$PROMETHEUS_VERSION")"
    # The module's go.work names folders its download leaves out. The service
    # discovery plugins are left out (remove_all_sd): the targets are static.
    (cd "$pdir" && GOWORK=off go build -trimpath -tags remove_all_sd \
      -ldflags "-X github.com/prometheus/common/version.Version=$release" \
      -o "$PROMTOOL_DIR/bin/promtool" ./cmd/promtool)
  fi
  if [ "$1" = all ] && [ ! -x "$GHZ_DIR/bin/ghz" ]; then
    say "go install $GHZ_MODULE/cmd/ghz@$GHZ_VERSION"
    GOBIN="$GHZ_DIR/bin" go install "$GHZ_MODULE/cmd/ghz@$GHZ_VERSION"
  fi
}

setup_python() {
  local stamp="$VENV/.polymesh-stamp" want pkg
  local -a pkgs=()
  for pkg in services/*/pyproject.toml clients/python/pyproject.toml deploy/mesh/pyproject.toml; do
    [ -f "$pkg" ] && pkgs+=("$(dirname "$pkg")")
  done
  want="$(cat requirements.lock "${pkgs[@]/%//pyproject.toml}" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "creating the Python virtual environment in .venv"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade "pip==$PIP_VERSION"
  # The lock pins every package, dependencies included: exactly these, and
  # pip check proves nothing is missing.
  "$VENV/bin/python" -m pip install -q --no-deps -r requirements.lock
  for pkg in "${pkgs[@]}"; do
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$pkg"
  done
  "$VENV/bin/python" -m pip check
  # Generated Python code is importable from every package of the venv.
  "$VENV/bin/python" - "$GEN/python" <<'PY'
import pathlib, site, sys
pathlib.Path(site.getsitepackages()[0], "polymesh-gen.pth").write_text(sys.argv[1] + "\n")
PY
  echo "$want" >"$stamp"
}

# What setup installed, for bug reports: build/versions.txt, which
# ./dev status prints.
write_versions() {
  local spec name bin tool
  mkdir -p "$BUILD"
  {
    echo "# The versions ./dev setup found installed ($(date -u +%Y-%m-%dT%H:%M:%SZ))."
    echo "os              $(. /etc/os-release && echo "$PRETTY_NAME") ($(uname -m))"
    for spec in "${APT_PACKAGES[@]}" "${ENGINE_APT_PACKAGES[@]}"; do
      name="${spec%%=*}"
      printf 'debian          %-38s %s\n' "$name" \
        "$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || echo 'not installed')"
    done
    echo "go              $(go env GOVERSION)"
    for tool in "${GO_TOOLS[@]}" "$JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION" \
      "$PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION" "$GHZ_MODULE/cmd/ghz@$GHZ_VERSION"; do
      bin="${tool%@*}"; bin="${bin##*/}"
      if command -v "$bin" >/dev/null; then
        printf 'go tool         %-38s %s\n' "$bin" "${tool#*@}"
      else
        printf 'go tool         %-38s %s\n' "$bin" "${tool#*@} (not installed)"
      fi
    done
    if [ -x "$VENV/bin/python" ]; then
      echo "python          $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
      "$VENV/bin/python" -m pip list --format=freeze --exclude-editable 2>/dev/null |
        awk -F'==' '{ printf "python package  %-38s %s\n", $1, $2 }'
    fi
  } >"$BUILD/versions.txt"
}

setup_level() { # demo | all
  # The Go programs (Jaeger; promtool, ghz) compile from their modules while
  # the packages, the Python environment and the C++ build go on: on a new
  # machine they are the longest steps. build_level waits for them.
  if go_programs_missing "$1"; then background "Go programs" setup_go_programs "$1"; fi
  local -a specs
  mapfile -t specs < <(apt_specs "$1")
  phase packages setup_apt "${specs[@]}"
  if [ "$1" = all ] && declare -F engine_setup >/dev/null; then phase "container engine" engine_setup; fi
  phase "Go tools" setup_go_tools "$1"
  phase "Python environment" setup_python
}

cmd_setup() { setup_level all; wait_background; write_versions; }

# --- pins that can disappear -------------------------------------------------
# Every package ./dev setup asks for must still be installable from the
# registries configured today: a Debian revision the archive dropped, a Go
# module version the proxy no longer serves, a wheel pulled from the index.
# CI fails on such drift before a new user meets it.
check_pins() {
  local failed=0 spec name want found v specs=("${APT_PACKAGES[@]}" "${ENGINE_APT_PACKAGES[@]}")
  enable_backports
  as_root apt-get update -q >/dev/null
  for spec in "${specs[@]}"; do
    name="${spec%%=*}" want="${spec#*=}" found=""
    # The archive's versions, not the installed one: apt-cache madison
    # lists only what the configured mirror serves.
    for v in $(apt-cache madison "$name" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }'); do
      # shellcheck disable=SC2053 # the version is a glob
      [[ "$v" == $want ]] && found="$v" && break
    done
    if [ -n "$found" ]; then
      printf '  debian  %-28s %-20s %s\n' "$name" "$want" "$found"
    else
      printf '  debian  %-28s %-20s NOT SERVED (the mirror has: %s)\n' "$name" "$want" \
        "$(apt-cache madison "$name" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')"
      failed=1
    fi
  done
  # Together: the specs resolve against each other, as setup installs them.
  if ! apt-get install -s -q --no-install-recommends "${specs[@]}" >/dev/null; then
    echo "  debian: apt-get cannot install the pinned packages together"
    failed=1
  fi
  # Go: each module version, asked of the configured module proxy (not
  # `direct`: a version control host is not where a pin is served from)
  # through an empty module cache, so that the local cache cannot answer.
  local modcache tool module version proxy
  proxy="$(go env GOPROXY | tr ',|' '\n\n' | grep -Ev '^(direct|off)$' | paste -sd, || true)"
  [ -n "$proxy" ] || { echo "  go: GOPROXY names no module proxy"; failed=1; }
  modcache="$(mktemp -d)"
  for tool in "${GO_TOOLS[@]}" "$JAEGER_MODULE@$JAEGER_VERSION" "$PROMETHEUS_MODULE@$PROMETHEUS_VERSION" \
    "$GHZ_MODULE@$GHZ_VERSION" "${ENGINE_GO_MODULES[@]}"; do
    [ -n "$proxy" ] || break
    module="${tool%@*}" version="${tool#*@}"
    # A tool is named by its package; its module is the longest prefix
    # the proxy knows at that version.
    while ! (cd "$modcache" && GOPROXY="$proxy" GOMODCACHE="$modcache/mod" GOFLAGS=-modcacherw \
      GO111MODULE=on go list -m "$module@$version" >/dev/null 2>&1); do
      if [[ "$module" != */*/* ]]; then module=""; break; fi
      module="${module%/*}"
    done
    if [ -n "$module" ]; then
      printf '  go      %-44s %s\n' "$module" "$version"
    else
      printf '  go      %-44s %s NOT SERVED\n' "${tool%@*}" "$version"
      failed=1
    fi
  done
  rm -rf "$modcache"
  # Python: pip resolves every pin of the lock against the index (local
  # wheel folders left out), in four parallel parts of the lock.
  local parts
  parts="$(mktemp -d)"
  { echo "pip==$PIP_VERSION"; grep -Ev '^\s*(#|$)' requirements.lock; } | split -n r/4 - "$parts/part."
  if printf '%s\n' "$parts"/part.* | PIP_FIND_LINKS="" xargs -P4 -I{} \
    "$VENV/bin/python" -m pip install --dry-run --no-deps --ignore-installed --no-cache-dir -q -r {}; then
    echo "  python  requirements.lock and pip==$PIP_VERSION: every pin is served"
  else
    echo "  python  requirements.lock: a pin is not served (pip's message above)"
    failed=1
  fi
  rm -rf "$parts"
  return "$failed"
}
