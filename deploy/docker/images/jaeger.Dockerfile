# The stand-in for jaegertracing/jaeger: the jaeger binary (Jaeger v2,
# all-in-one with in-memory storage when given no configuration) built from
# its Go module, at the path, user and listen address of the official image.
# wget answers compose.yaml's healthcheck, as busybox's does in the official
# image (Alpine). The build context holds the binary.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wget='1.21.3-1*' \
 && rm -rf /var/lib/apt/lists/*
COPY jaeger /cmd/jaeger/jaeger-linux
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 5778 5779 9411 13133 14250 14268 16686
VOLUME ["/tmp"]
USER 10001
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
