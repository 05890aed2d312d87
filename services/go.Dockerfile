# The Go services as container images, one target each:
#
#   docker build -f services/go.Dockerfile --target aiapi -t polymesh-aiapi .
#   docker build -f services/go.Dockerfile --target users -t polymesh-users .
#
#   aiapi  polymesh.ai.v1.AIService        listens on 50051
#   users  polymesh.users.v1.UserService   listens on 50053
#
# The build context is the repository root. One build stage serves both: it
# generates the Go code of proto/ with one protoc invocation, as ./dev build
# does, with the same pinned protoc and plugins, then builds static binaries
# (the SQLite driver is pure Go). The runtime images are distroless, with no
# shell, and run as their unprivileged user.

# The base images, pinned; a machine without access to their registry passes
# stand-ins as build arguments (deploy/docker/compose.local.yaml).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG STATIC_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639

FROM ${GO_IMAGE} AS build
# protoc, and the well-known types (google/protobuf/*.proto) that proto/
# imports, which Debian ships in libprotobuf-dev.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      protobuf-compiler='3.21.12-3*' \
      libprotobuf-dev='3.21.12-3*' \
 && rm -rf /var/lib/apt/lists/*
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.61
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN GOBIN=/usr/local/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6 \
 && GOBIN=/usr/local/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1 \
 && GOBIN=/out go install -trimpath -ldflags="-s -w" \
      github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY proto/ proto/
RUN mkdir -p gen/go \
 && cd proto \
 && protoc -I . \
      --go_out=../gen/go --go_opt=module=github.com/polymesh/polymesh/gen/go \
      --go-grpc_out=../gen/go --go-grpc_opt=module=github.com/polymesh/polymesh/gen/go \
      $(find . -name '*.proto' -not -path './grpc/*' | sed 's|^\./||' | sort)
COPY services/ services/
RUN go build -trimpath -ldflags="-s -w" -o /out/ ./services/aiapi/... ./services/users/... \
 && mkdir -p /out/data

# What every Go service's image has: the health probe, the unprivileged
# user, and the trace and gRPC settings. grpc-go's DNS resolver looks up a
# TXT record (_grpc_config.<name>) after each name's addresses, and reports
# neither before both answer: on compose's internal network the engine's DNS
# cannot forward that query, and Debian 12's engine leaves it unanswered, so
# every first connection (to the collector, to the gateway) would wait out
# the resolver's timeout. The services use no service config from DNS.
FROM ${STATIC_IMAGE} AS runtime
COPY --from=build /out/grpc-health-probe /usr/local/bin/grpc-health-probe
USER 65532:65532
ENV OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup \
    GRPC_ENABLE_TXT_SERVICE_CONFIG=false

FROM runtime AS aiapi
COPY --from=build /out/aiapi /usr/local/bin/aiapi
ENV OTEL_SERVICE_NAME=polymesh-aiapi \
    POLYMESH_LISTEN_ADDR=0.0.0.0:50051
EXPOSE 50051
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
  CMD ["/usr/local/bin/grpc-health-probe", "-addr=127.0.0.1:50051"]
ENTRYPOINT ["/usr/local/bin/aiapi"]

# The SQLite database lives in /data, a volume the runtime user owns. Point
# POLYMESH_USERS_DB at a postgres:// URL to use PostgreSQL.
FROM runtime AS users
COPY --from=build /out/users /usr/local/bin/users
# An empty folder owned by the runtime user: a named volume mounted here
# starts with this ownership.
COPY --from=build --chown=65532:65532 /out/data /data
ENV OTEL_SERVICE_NAME=polymesh-users \
    POLYMESH_LISTEN_ADDR=0.0.0.0:50053 \
    POLYMESH_USERS_DB=/data/users.db
VOLUME ["/data"]
EXPOSE 50053
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
  CMD ["/usr/local/bin/grpc-health-probe", "-addr=127.0.0.1:50053"]
ENTRYPOINT ["/usr/local/bin/users"]
