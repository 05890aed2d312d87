# shellcheck shell=bash
# The pinned versions of everything ./dev setup installs; ./dev test's pins
# suite checks that the configured registries still serve each of them.
# Sourced by ./dev, after it has set ROOT, BUILD, VENV, CACHE and RUN; not a program of its own.

# --- pinned versions -------------------------------------------------------
# Debian 12 packages, pinned by their upstream version with the Debian
# revision left to float ('1.51.1-3*'): a point or security update replaces
# a revision in the archive, and an exact pin would fail on every new machine
# that day. PostgreSQL and OpenSSL are the exceptions Debian makes: their
# stable and security updates are new upstream patch releases (15.x,
# 3.0.x), so only the release series is pinned.
# opentelemetry-cpp comes from bookworm-backports. `./dev test` checks every
# spec against the configured mirror (the pins suite).
APT_PACKAGES=(
  libgrpc++-dev='1.51.1-3*'
  protobuf-compiler-grpc='1.51.1-3*'
  libprotobuf-dev='3.21.12-3*'
  protobuf-compiler='3.21.12-3*'
  libabsl-dev='20220623.1-1*'
  libyaml-cpp-dev='0.7.0+dfsg-8*'
  prometheus-cpp-dev='1.0.1-1*'
  libcivetweb-dev='1.15+dfsg-4*'
  libnghttp2-dev='1.52.0-1*'
  opentelemetry-cpp-dev='1.19.0-3~bpo12*'
  libopentelemetry-proto-dev='1.5.0-1~bpo12*'
  pkg-config='1.8.1-1*'
  libgtest-dev='1.12.1-0.2*'
  libgmock-dev='1.12.1-0.2*'
  libbenchmark-dev='1.7.1-1*'
  clang-14='1:14.0.6-12*'
  libclang-rt-14-dev='1:14.0.6-12*'
  nghttp2-client='1.52.0-1*'
  postgresql-15='15.*'
  postgresql-client-15='15.*'
  nginx='1.22.1-9*'
  # The command-line tool that makes the mesh's local CA and certificates
  # (polymesh_mesh.pki, ./dev up) and the tests' hostile ones.
  openssl='3.0.*'
)
# Packages of APT_PACKAGES that only tests and benchmarks use: the C++ tests
# and micro-benchmarks (GoogleTest, Google Benchmark), h2load, a throwaway
# PostgreSQL server for the users service's tests, nginx as the reference
# proxy of ./dev bench gateway, clang and its sanitizer and libFuzzer
# runtimes for the gateway's fuzz targets (./dev fuzz, the fuzz suite).
# ./dev demo installs none of them, and no image does.
APT_TEST_ONLY=(libgtest-dev libgmock-dev libbenchmark-dev nghttp2-client postgresql-15 postgresql-client-15 nginx
  clang-14 libclang-rt-14-dev)
# Go tools, installed with `go install` from the Go module proxy. The protoc
# plugins generate code for every build; buf lints proto/ in ./dev test.
GO_TOOLS=(
  github.com/bufbuild/buf/cmd/buf@v1.47.2
  google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6
  google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
)
GO_TEST_ONLY_TOOLS=(buf)
# The tracing backend: Jaeger v2 all-in-one. Its module has no /v2 path, so
# the v2 binary is built from a v1.x tag.
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_VERSION=v1.76.0
# promtool checks the Prometheus configuration and the dashboard's PromQL in
# the tests: the release of the prom/prometheus image in compose.yaml, whose
# Go module numbers Prometheus v3.13.5 as v0.313.5. Built like Jaeger, into a
# folder of its own.
PROMETHEUS_MODULE=github.com/prometheus/prometheus
PROMETHEUS_VERSION=v0.313.5
# ghz, the gRPC load tool that a test runs beside `polymesh bench` on the same
# open-loop scenario to check its counts. In a folder of its own, like
# promtool, so that pinning it does not rebuild the GO_TOOLS folder (Jaeger).
GHZ_MODULE=github.com/bojand/ghz
GHZ_VERSION=v0.120.0
# pip itself, in the virtual environment; requirements.lock pins the rest.
PIP_VERSION=24.3.1
