# The stand-in for gcr.io/distroless/static-debian12:nonroot: no shell and no
# package manager; CA certificates, time zones, and the users root, nobody
# and nonroot (65532), taken from the local Debian root.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS root
RUN mkdir -p /out/etc/ssl/certs /out/usr/share /out/tmp /out/home/nonroot \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && cp -a /usr/share/zoneinfo /out/usr/share/ \
 && cp /etc/os-release /out/etc/os-release \
 && printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >/out/etc/passwd \
 && printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >/out/etc/group \
 && printf 'hosts: files dns\n' >/out/etc/nsswitch.conf \
 && chmod 1777 /out/tmp

FROM scratch
COPY --from=root /out/ /
COPY --from=root --chown=65532:65532 /out/home/nonroot /home/nonroot
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
