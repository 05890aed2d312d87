# The stand-in for prom/prometheus: the prometheus binary built from its Go
# module (its web UI's assets are not part of the module: the API and
# /-/ready answer, the UI does not), at the paths, user and arguments of the
# official image. wget answers compose.yaml's healthcheck, as busybox's does
# in the official image. The build context holds the binary.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wget='1.21.3-1*' \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /etc/prometheus /prometheus \
 && chown nobody:nogroup /prometheus
COPY prometheus /bin/prometheus
USER nobody
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
