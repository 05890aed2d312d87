# shellcheck shell=bash
# A Docker engine of the project's own, to run compose.yaml for real on a
# machine that reaches a Debian mirror and the Go and Python package indexes
# but no container registry.
#
# Sourced by ./dev; defines functions and variable defaults only. What it
# makes lives in folders of the checkout (its sockets, pid files and logs
# under .run/, build contexts under build/docker/) or in the shared cache of
# pinned tools (~/.cache/polymesh: Compose, the engine's images and build
# cache in docker/):
#
#   engine_setup        Debian's docker.io, containerd, runc and debootstrap
#                       (pinned), and Docker Compose v2 built from its Go
#                       module as a CLI plugin
#   engine_start        containerd and dockerd in the background, as root,
#                       without systemd; exports DOCKER_HOST and DOCKER_CONFIG
#   engine_stop         both stopped, and no process of theirs left
#   engine_base_images  the public base images of the Dockerfiles and of
#                       compose.yaml, made locally (polymesh-base/...,
#                       polymesh-local/...): see deploy/docker/images/
#   compose_secrets     the certificates and the admin token compose.yaml
#                       mounts, in build/compose/
#   compose_test_stack  the whole compose stack built, started, called end to
#                       end through its published gateway port, and removed
#
# `./dev compose up | down | CMD` runs the demo stack with these; the
# compose suite of `./dev test` runs compose_test_stack. The file uses what
# ./dev defines before it sources it: ROOT, BUILD, RUN, CACHE, TOOLS, the
# Jaeger and Prometheus pins, say, die, as_root, setup_apt, go_module_dir
# and prometheus_release.

# --- pinned versions -------------------------------------------------------
# Debian 12 packages, by upstream version (the Debian revision floats: point
# releases replace it). docker.io depends on the rest but for debootstrap;
# they are pinned for what runs: containerd (started here, beside dockerd),
# runc, and iptables (bridge networks, published ports). debootstrap makes
# the root of every local base image.
ENGINE_APT_PACKAGES=(
  docker.io='20.10.24+dfsg1-1*'
  containerd='1.6.20~ds1-1*'
  runc='1.1.5+ds1-1*'
  iptables='1.8.9-2*'
  debootstrap='1.0.128+nmu2*'
)
# Compose v2 (Debian 12 has only the Python docker-compose 1.x). `go install`
# refuses the module for its exclude directives, so it is built from the
# downloaded module.
COMPOSE_MODULE=github.com/docker/compose/v2
COMPOSE_VERSION=v2.40.3
# The Go modules built here that ./dev pins nowhere else (its pins check asks
# the module proxy for each).
# shellcheck disable=SC2034 # read by ./dev
ENGINE_GO_MODULES=("$COMPOSE_MODULE@$COMPOSE_VERSION")
# The Debian release of every image.
ENGINE_SUITE=bookworm

# The local images, by the name compose.local.yaml and the build arguments
# use. Each carries a label with a digest of what it is made of; an image
# whose label differs is made again.
BASE_DEBIAN_IMAGE=polymesh-base/debian:bookworm
BASE_STATIC_IMAGE=polymesh-base/static:nonroot
BASE_GO_IMAGE=polymesh-base/golang:bookworm
BASE_PYTHON_IMAGE=polymesh-base/python:3.11-bookworm
LOCAL_JAEGER_IMAGE=polymesh-local/jaeger:2.13.0
LOCAL_PROMETHEUS_IMAGE=polymesh-local/prometheus:v3.13.5
ENGINE_RECIPE_LABEL=org.polymesh.recipe

# The compose files of the stack on this machine.
ENGINE_COMPOSE_FILES=(-f "$ROOT/compose.yaml" -f "$ROOT/deploy/docker/compose.local.yaml")

# --- paths -----------------------------------------------------------------
# engine_paths sets where the engine keeps its state, and exports the
# variables the docker CLI reads. Unix socket paths must fit in 108 bytes;
# the longest one is containerd's ttrpc socket, so a run folder with a long
# path moves the engine's sockets to a short folder named after the checkout.
engine_paths() {
  # The images and their build cache, shared by every checkout like the Go
  # tools (a new clone builds nothing again), and outside the checkout, where
  # `go ./...` and the linters would walk the image layers' sources.
  ENGINE_DATA="$CACHE/docker"
  ENGINE_STATE="$RUN/docker"
  if [ "${#ENGINE_STATE}" -gt 60 ]; then
    ENGINE_STATE="/run/polymesh-docker-$(printf %s "$ROOT" | sha256sum | cut -c1-12)"
  fi
  ENGINE_EXEC="$ENGINE_STATE/exec"
  ENGINE_SOCK="$ENGINE_STATE/docker.sock"
  ENGINE_PIDFILE="$ENGINE_STATE/dockerd.pid"
  ENGINE_CONTAINERD_DIR="$ENGINE_STATE/containerd"
  ENGINE_CONTAINERD_SOCK="$ENGINE_CONTAINERD_DIR/containerd.sock"
  ENGINE_CONTAINERD_PIDFILE="$ENGINE_STATE/containerd.pid"
  ENGINE_LOGS="$RUN/logs"
  # Containers' cgroups go under a parent of their own, so that what is left
  # of them can be told from anything else on the machine.
  ENGINE_CGROUP_PARENT=/polymesh-docker
  DOCKER_HOST="unix://$ENGINE_SOCK"
  DOCKER_CONFIG="$BUILD/docker/config"
  export DOCKER_HOST DOCKER_CONFIG
}

# --- setup -----------------------------------------------------------------
engine_setup() {
  engine_paths
  # The package's own service is not the engine used here: where init
  # starts it, it runs beside this one, on its own sockets and folders.
  setup_apt "${ENGINE_APT_PACKAGES[@]}"

  local bin="$CACHE/compose-$COMPOSE_VERSION/docker-compose"
  if [ ! -x "$bin" ]; then
    say "building Docker Compose $COMPOSE_VERSION (first time only; a few minutes)"
    local dir
    dir="$(go_module_dir "$COMPOSE_MODULE@$COMPOSE_VERSION")"
    mkdir -p "${bin%/*}"
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off go build -trimpath \
      -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
      -o "$bin.tmp" ./cmd) || die "building Docker Compose failed"
    mv "$bin.tmp" "$bin"
  fi
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  ln -sfn "$bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"
}

# --- start and stop --------------------------------------------------------
# engine_process_runs says whether a process of that pid and name runs (a
# zombie does not).
engine_process_runs() { # pid name
  local comm state
  read -r comm 2>/dev/null <"/proc/$1/comm" || return 1
  read -r _ _ state _ 2>/dev/null <"/proc/$1/stat" || return 1
  [ "$comm" = "$2" ] && [ "$state" != Z ]
}

engine_pid_alive() { # pidfile command-name
  local pid
  [ -f "$1" ] && pid="$(cat "$1" 2>/dev/null)" && [ -n "$pid" ] && engine_process_runs "$pid" "$2"
}

engine_running() {
  engine_paths
  engine_pid_alive "$ENGINE_PIDFILE" dockerd
}

# engine_wait_for waits until a command succeeds, while the process of a pid
# file (or, without one, ENGINE_STARTING_PID) lives; otherwise it dies with
# the end of the log.
engine_wait_for() { # timeout_s pidfile|"" name log command...
  local deadline=$((SECONDS + $1)) pidfile="$2" name="$3" log="$4" alive
  shift 4
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pidfile" ]; then
      engine_pid_alive "$pidfile" "$name" && alive=1 || alive=
    else
      engine_process_runs "$ENGINE_STARTING_PID" "$name" && alive=1 || alive=
    fi
    if [ -z "$alive" ]; then
      tail -n 30 "$log" >&2
      die "$name exited; its log is $log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$log" >&2
      die "$name did not answer within $1 s; its log is $log"
    fi
    sleep 0.5
  done
}

engine_start() {
  engine_paths
  if engine_running; then
    # Started already (maybe by another command, still coming up).
    engine_wait_for 60 "$ENGINE_PIDFILE" dockerd "$ENGINE_LOGS/dockerd.log" docker info
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "the Docker engine runs as root: run this as root"
  command -v dockerd >/dev/null || die "no dockerd: run engine_setup"
  mkdir -p "$ENGINE_DATA" "$ENGINE_EXEC" "$ENGINE_CONTAINERD_DIR" "$ENGINE_LOGS"

  # containerd of our own rather than the one dockerd would start: dockerd
  # uses a system containerd whenever /run/containerd/containerd.sock exists,
  # and this one keeps its data and sockets in our folders too (only the
  # shims' sockets are fixed, under /run/containerd/s). Kubernetes' CRI
  # plugin is not needed.
  if ! engine_pid_alive "$ENGINE_CONTAINERD_PIDFILE" containerd; then
    cat >"$ENGINE_CONTAINERD_DIR/config.toml" <<EOF
version = 2
root = "$ENGINE_DATA/containerd"
state = "$ENGINE_CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ENGINE_CONTAINERD_SOCK"
[ttrpc]
  address = "$ENGINE_CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$ENGINE_CONTAINERD_DIR/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$ENGINE_DATA/containerd/opt"
EOF
    say "starting containerd ($ENGINE_CONTAINERD_SOCK)"
    setsid containerd --config "$ENGINE_CONTAINERD_DIR/config.toml" \
      </dev/null >>"$ENGINE_LOGS/containerd.log" 2>&1 &
    echo $! >"$ENGINE_CONTAINERD_PIDFILE"
    engine_wait_for 30 "$ENGINE_CONTAINERD_PIDFILE" containerd "$ENGINE_LOGS/containerd.log" \
      ctr --address "$ENGINE_CONTAINERD_SOCK" version
  fi

  # The daemon's own configuration file, so that /etc/docker/daemon.json of
  # the machine does not apply.
  printf '{}\n' >"$ENGINE_STATE/daemon.json"
  say "starting dockerd ($ENGINE_SOCK)"
  rm -f "$ENGINE_PIDFILE"
  setsid dockerd \
    --config-file "$ENGINE_STATE/daemon.json" \
    --data-root "$ENGINE_DATA" \
    --exec-root "$ENGINE_EXEC" \
    --pidfile "$ENGINE_PIDFILE" \
    --host "$DOCKER_HOST" \
    --containerd "$ENGINE_CONTAINERD_SOCK" \
    --cgroup-parent "$ENGINE_CGROUP_PARENT" \
    </dev/null >>"$ENGINE_LOGS/dockerd.log" 2>&1 &
  # dockerd writes its pid file itself, and refuses to start when the file
  # names a live process: until it has, the pid is the background job's.
  ENGINE_STARTING_PID=$!
  engine_wait_for 60 "" dockerd "$ENGINE_LOGS/dockerd.log" docker info
}

# engine_processes prints the pid and name of every process the engine runs:
# dockerd and containerd by their pid files, their children (docker-proxy),
# the shims that name our containerd socket, and whatever runs in the
# containers' cgroups.
engine_processes() {
  engine_paths
  local dir pid comm state ppid cgroup cmdline parents=" "
  engine_pid_alive "$ENGINE_PIDFILE" dockerd && parents+="$(cat "$ENGINE_PIDFILE") "
  engine_pid_alive "$ENGINE_CONTAINERD_PIDFILE" containerd && parents+="$(cat "$ENGINE_CONTAINERD_PIDFILE") "
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    read -r comm 2>/dev/null <"$dir/comm" || continue
    read -r _ _ state ppid _ 2>/dev/null <"$dir/stat" || continue
    # An exited shim waits for init to reap it: nothing runs.
    [ "$state" != Z ] || continue
    cgroup='' cmdline=''
    read -r -d '' cgroup 2>/dev/null <"$dir/cgroup" || true
    if [[ "$parents" == *" $pid "* || "$parents" == *" $ppid "* ||
      "$cgroup" == *":$ENGINE_CGROUP_PARENT/"* ]]; then
      echo "$pid $comm"
    elif [[ "$comm" == containerd-shim* ]]; then
      cmdline="$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline")" || continue
      [[ "$cmdline" != *"$ENGINE_CONTAINERD_SOCK"* ]] || echo "$pid $comm"
    fi
  done
}

engine_stop_pid() { # pidfile name timeout_s
  local pid
  engine_pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid="$(cat "$1")"
  say "stopping $2 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + $3))
  while engine_pid_alive "$1" "$2" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if engine_pid_alive "$1" "$2"; then
    say "$2 (pid $pid) did not stop within $3 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$1"
}

engine_stop() {
  engine_paths
  local before left
  before="$(engine_processes)"
  # dockerd stops the running containers first (10 s each, then KILL).
  engine_stop_pid "$ENGINE_PIDFILE" dockerd 60
  engine_stop_pid "$ENGINE_CONTAINERD_PIDFILE" containerd 20
  # Anything of theirs still there (a shim whose container would not stop, a
  # docker-proxy of a killed dockerd) is stopped by its pid.
  left="$(printf '%s\n' "$before" | while read -r pid comm; do
    [ -n "$pid" ] && engine_process_runs "$pid" "$comm" && echo "$pid $comm"
  done; engine_processes)"
  left="$(printf '%s\n' "$left" | sort -u | sed '/^$/d')"
  if [ -n "$left" ]; then
    say "stopping what the engine left: $(printf '%s' "$left" | tr '\n' ' ')"
    printf '%s\n' "$left" | while read -r pid _; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 2
    printf '%s\n' "$left" | while read -r pid comm; do
      engine_process_runs "$pid" "$comm" && kill -KILL "$pid" 2>/dev/null
    done
    sleep 0.5
  fi
  left="$(engine_processes)"
  [ -z "$left" ] || die "processes of the engine still run: $(printf '%s' "$left" | tr '\n' ' ')"
}

# --- local images ----------------------------------------------------------
# engine_image_current says whether an image exists and was made from the
# recipe digest given.
engine_image_current() { # image recipe
  [ "$(docker image inspect -f "{{ index .Config.Labels \"$ENGINE_RECIPE_LABEL\" }}" "$1" 2>/dev/null)" = "$2" ]
}

# engine_debian_sources prints the Debian suites this machine's apt fetches
# ENGINE_SUITE from, one "URI suite" line each: the release, its -updates
# and its -security suites, from one-line and deb822 sources alike.
engine_debian_sources() {
  local suite="$ENGINE_SUITE"
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } print $i, $(i + 1) }'
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk '
        function flush(  u, s, nu, ns, us, ss) {
          if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
            nu = split(uris, us, " "); ns = split(suites, ss, " ")
            for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print us[u], ss[s]
          }
          types = uris = suites = enabled = ""
        }
        /^[[:space:]]*$/ { flush(); next }
        /^#/ { next }
        { key = tolower($1); $1 = "" }
        key == "types:" { types = $0 } key == "uris:" { uris = $0 }
        key == "suites:" { suites = $0 } key == "enabled:" { enabled = $2 }
        END { flush() }' "$f"
    done
  } | awk -v s="$suite" '$2 == s || $2 == s "-updates" || $2 == s "-security"' | sort -u
}

# engine_deb822 prints those suites as the image's deb822 sources, one
# paragraph per mirror.
engine_deb822() {
  engine_debian_sources | awk '
    { order[$1] = order[$1] ? order[$1] : ++n; uri[order[$1]] = $1; suites[order[$1]] = suites[order[$1]] " " $2 }
    END {
      for (i = 1; i <= n; i++) {
        if (i > 1) print ""
        print "Types: deb"; print "URIs: " uri[i]; print "Suites:" suites[i]
        print "Components: main"; print "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
      }
    }'
}

# engine_debian_image makes the root of every local image, the stand-in for
# debian:12-slim: a minimal Debian root from debootstrap, with the machine's
# extra certificate authorities (its outbound TLS may be intercepted) and
# the machine's Debian mirrors as its apt sources.
engine_debian_image() {
  local sources mirror recipe dir log="$ENGINE_LOGS/debootstrap.log"
  sources="$(engine_deb822)"
  mirror="$(engine_debian_sources | awk -v s="$ENGINE_SUITE" '$2 == s { print $1; exit }')"
  [ -n "$mirror" ] || die "no Debian mirror for $ENGINE_SUITE in /etc/apt"
  recipe="$({ declare -f engine_debian_image; printf '%s\n' "$sources"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null; } |
    sha256sum | cut -c1-16)"
  engine_image_current "$BASE_DEBIAN_IMAGE" "$recipe" && return 0

  dir="$BUILD/docker/rootfs"
  rm -rf "$dir"
  say "debootstrap $ENGINE_SUITE from $mirror (about a minute and a half)"
  debootstrap --variant=minbase --include=ca-certificates,tzdata "$ENGINE_SUITE" "$dir" "$mirror" >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; rm -rf "$dir"; die "debootstrap failed; its log is $log"; }
  rm -f "$dir/etc/apt/sources.list"
  printf '%s\n' "$sources" >"$dir/etc/apt/sources.list.d/debian.sources"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  fi
  chroot "$dir" update-ca-certificates >>"$log" 2>&1 || die "update-ca-certificates failed in the root; see $log"
  # The engine gives every container its own name resolution and host name.
  : >"$dir/etc/resolv.conf"
  echo localhost >"$dir/etc/hostname"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/* "$dir"/tmp/* "$dir"/root/.[!.]* 2>/dev/null || true
  say "importing $BASE_DEBIAN_IMAGE"
  tar --numeric-owner -C "$dir" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
    docker import \
      --change "LABEL $ENGINE_RECIPE_LABEL=$recipe" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      - "$BASE_DEBIAN_IMAGE" >/dev/null || die "docker import failed"
  rm -rf "$dir"
}

# engine_build_image builds one image of deploy/docker/images/ unless it is
# current: its recipe is the Dockerfile, the build arguments (and the images
# they name), and what the caller adds (the version of what the context
# holds).
engine_build_image() { # image dockerfile context extra [NAME=value...]
  local image="$1" file="$ROOT/deploy/docker/images/$2" context="$3" extra="$4" recipe a
  shift 4
  local -a args=()
  recipe="$({ cat "$file"; printf '%s\n' "$extra" "$@"
    for a in "$@"; do docker image inspect -f '{{ .Id }}' "${a#*=}" 2>/dev/null || true; done; } |
    sha256sum | cut -c1-16)"
  engine_image_current "$image" "$recipe" && return 0
  for a in "$@"; do args+=(--build-arg "$a"); done
  local log="$ENGINE_LOGS/image-${image//[\/:]/-}.log" start=$SECONDS
  say "building $image"
  DOCKER_BUILDKIT=0 docker build --network host --label "$ENGINE_RECIPE_LABEL=$recipe" \
    -t "$image" -f "$file" "${args[@]}" "$context" >"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "building $image failed; its log is $log"; }
  say "built $image in $((SECONDS - start)) s"
}

# engine_go_binary builds a command of a Go module into the cache, once.
engine_go_binary() { # module@version package output [go build flags...]
  local mod="$1" pkg="$2" out="$3" dir
  shift 3
  [ -x "$out" ] && return 0
  say "building $pkg of $mod (first time only; several minutes)"
  dir="$(go_module_dir "$mod")"
  mkdir -p "${out%/*}"
  # The modules' go.work files name folders their downloads leave out.
  (cd "$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath "$@" -o "$out.tmp" "$pkg") ||
    die "building $pkg of $mod failed"
  mv "$out.tmp" "$out"
}

# engine_binary_context puts a binary alone in a build context folder (a
# hard link where it can), and what tells one build of it from another in
# the folder's .version.
engine_binary_context() { # binary name
  local dir="$BUILD/docker/context/$2"
  rm -rf "$dir" && mkdir -p "$dir"
  ln -f "$1" "$dir/$2" 2>/dev/null || cp "$1" "$dir/$2"
  stat -c '%n %s %Y' "$1" >"$dir/.version"
  printf '%s\n' "$dir"
}

engine_base_images() {
  engine_paths
  mkdir -p "$ENGINE_LOGS"
  local empty="$BUILD/docker/context/empty" base="BASE_IMAGE=$BASE_DEBIAN_IMAGE" goroot jaeger prometheus release ctx
  mkdir -p "$empty"
  engine_debian_image
  engine_build_image "$BASE_STATIC_IMAGE" static.Dockerfile "$empty" "" "$base"
  engine_build_image "$BASE_PYTHON_IMAGE" python.Dockerfile "$empty" "" "$base"
  goroot="$(go env GOROOT)"
  engine_build_image "$BASE_GO_IMAGE" golang.Dockerfile "$goroot" "$(go env GOVERSION) $goroot" "$base"

  # Jaeger: the binary ./dev setup built for the local mesh when there is
  # one, else one of our own.
  jaeger="${TOOLS:+$TOOLS/bin/jaeger}"
  if [ -z "$jaeger" ] || [ ! -x "$jaeger" ]; then
    jaeger="$CACHE/jaeger-$JAEGER_VERSION/bin/jaeger"
    engine_go_binary "$JAEGER_MODULE@$JAEGER_VERSION" ./cmd/jaeger "$jaeger"
  fi
  ctx="$(engine_binary_context "$jaeger" jaeger)"
  engine_build_image "$LOCAL_JAEGER_IMAGE" jaeger.Dockerfile "$ctx" "$(cat "$ctx/.version")" "$base"

  # Prometheus, built as ./dev builds promtool: the module numbers v3.13.5
  # as v0.313.5, and the service discovery plugins are left out (the
  # targets are static).
  release="$(prometheus_release)"
  prometheus="$CACHE/prometheus-$PROMETHEUS_VERSION/bin/prometheus"
  engine_go_binary "$PROMETHEUS_MODULE@$PROMETHEUS_VERSION" ./cmd/prometheus "$prometheus" \
    -tags remove_all_sd -ldflags "-X github.com/prometheus/common/version.Version=$release"
  ctx="$(engine_binary_context "$prometheus" prometheus)"
  engine_build_image "$LOCAL_PROMETHEUS_IMAGE" prometheus.Dockerfile "$ctx" "$(cat "$ctx/.version")" "$base"
}

# --- the stack, tested -----------------------------------------------------
# engine_free_ports prints N TCP ports nothing listens on at 127.0.0.1 now,
# distinct: all are held open until the last is chosen.
engine_free_ports() { # n
  python3 -c 'import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}

# compose_secrets makes the files compose.yaml mounts that no checkout holds:
# the certificates of deploy/mesh.yaml's pki section, made for the stack by
# the code that makes ./dev up's (polymesh_mesh.pki), in build/compose/tls,
# and the gateway's admin token, build/compose/admin-token. What exists is
# kept. A bind mount keeps the host's owner and mode, so each private file
# stays 0600 and is given to the user the image that reads it runs as (the
# USER of its Dockerfile; tests/compose checks COMPOSE_SECRET_OWNERS
# against them).
COMPOSE_SECRETS_DIR="$BUILD/compose"
COMPOSE_SECRET_OWNERS=(tls/gateway.key:10001 admin-token:10001 tls/aiapi.key:65532)
compose_secrets() {
  local entry
  "${VENV:-$ROOT/.venv}/bin/python" -m polymesh_mesh pki --folder "$COMPOSE_SECRETS_DIR/tls" \
    --admin-token "$COMPOSE_SECRETS_DIR/admin-token" >/dev/null
  for entry in "${COMPOSE_SECRET_OWNERS[@]}"; do
    as_root chown "${entry#*:}:${entry#*:}" "$COMPOSE_SECRETS_DIR/${entry%%:*}"
  done
}

# engine_compose runs docker compose on compose.yaml and this machine's
# override.
engine_compose() { docker compose "${ENGINE_COMPOSE_FILES[@]}" "$@"; }

# stack_phase runs one phase of compose_test_stack and notes its duration.
stack_phase() { # name command...
  local name="$1" start=$SECONDS
  shift
  say "stack test: $name"
  # An explicit exit: a caller's `if` would switch errexit off in here.
  "$@" || exit
  STACK_TIMINGS+=("$(printf '%-12s %4d s' "$name" $((SECONDS - start)))")
}

# stack_finish ends compose_test_stack, passed or not: the stack removed with
# its volumes (its containers' output first, on failure), the engine stopped
# if the test started it, the timings printed.
stack_finish() {
  local rc=$? start=$SECONDS
  trap - EXIT INT TERM
  if [ -n "$STACK_UP" ]; then
    if [ "$rc" -ne 0 ]; then
      engine_compose ps -a >&2 || true
      engine_compose logs --no-color --tail 40 >&2 || true
    fi
    say "stack test: down -v"
    engine_compose down -v --remove-orphans --timeout 20 || rc=1
    STACK_TIMINGS+=("$(printf '%-12s %4d s' down $((SECONDS - start)))")
  fi
  if [ -z "$STACK_WAS_RUNNING" ]; then
    start=$SECONDS
    (engine_stop) || rc=1
    STACK_TIMINGS+=("$(printf '%-12s %4d s' engine-stop $((SECONDS - start)))")
  fi
  printf '\nstack test timings:\n' >&2
  printf '  %s\n' "${STACK_TIMINGS[@]}" >&2
  printf '  %-12s %4d s\n' total $((SECONDS - STACK_T0)) >&2
  if [ "$rc" -eq 0 ]; then say "stack test: passed"; else say "stack test: FAILED"; fi
  exit "$rc"
}

# compose_test_stack runs the compose stack for real and tests it end to end:
# engine, base images, every image built, `up --wait` (every healthcheck
# green), tests/stack through the published ports only, then `down -v`. The
# stack is a compose project of its own, published on free loopback ports,
# so that neither the mesh of ./dev up nor a demo stack in the same engine is
# in its way; an engine it started is stopped again. Runs in a subshell: its
# trap and environment end with it.
compose_test_stack() (
  set -euo pipefail
  local python="${VENV:-$ROOT/.venv}/bin/python" healthy
  [ -x "$python" ] || die "no $python: run ./dev setup"
  STACK_T0=$SECONDS STACK_UP='' STACK_WAS_RUNNING='' STACK_TIMINGS=()

  stack_phase setup engine_setup
  if engine_running; then STACK_WAS_RUNNING=1; fi
  # On an interrupt too, the stack and the engine go.
  trap stack_finish EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  stack_phase engine-start engine_start
  stack_phase base-images engine_base_images

  stack_phase secrets compose_secrets
  # compose.yaml takes its published ports from these.
  export COMPOSE_PROJECT_NAME=polymesh-test POLYMESH_PUBLISH_HOST=127.0.0.1
  local ports
  ports="$(engine_free_ports 4)" || exit
  read -r POLYMESH_GATEWAY_PORT POLYMESH_GATEWAY_TLS_PORT POLYMESH_JAEGER_UI_PORT \
    POLYMESH_GRAFANA_PORT <<<"$ports"
  export POLYMESH_GATEWAY_PORT POLYMESH_GATEWAY_TLS_PORT POLYMESH_JAEGER_UI_PORT \
    POLYMESH_GRAFANA_PORT
  # The engine's classic builder: compose builds with BuildKit only through
  # buildx, which Debian 12 does not package.
  export DOCKER_BUILDKIT=0
  # One build at a time: services that share a Dockerfile then build it once
  # and take the rest from the cache, and each build has both cores.
  stack_phase build env COMPOSE_PARALLEL_LIMIT=1 docker compose "${ENGINE_COMPOSE_FILES[@]}" build
  STACK_UP=1
  stack_phase up engine_compose up --wait --wait-timeout 300 --no-build
  healthy="$(engine_compose ps --format '{{.Service}}:{{.Health}}' | sort | tr '\n' ' ')"
  say "stack test: $healthy"
  stack_phase pytest env POLYMESH_STACK_GATEWAY="127.0.0.1:$POLYMESH_GATEWAY_PORT" \
    POLYMESH_STACK_GATEWAY_TLS="127.0.0.1:$POLYMESH_GATEWAY_TLS_PORT" \
    POLYMESH_STACK_TLS="$COMPOSE_SECRETS_DIR/tls" \
    POLYMESH_STACK_JAEGER="http://127.0.0.1:$POLYMESH_JAEGER_UI_PORT" \
    "$python" -m pytest -q -p no:cacheprovider "$ROOT/tests/stack"
)
