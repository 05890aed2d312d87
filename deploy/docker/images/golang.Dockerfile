# The stand-in for golang:<version>-bookworm: the local Debian root and the
# Go toolchain of the machine that builds it (the build context is its
# GOROOT), at the paths and with the environment of the official image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY . /usr/local/go
# The toolchain in the image is the one used: no download of another.
ENV GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOTOOLCHAIN=local \
    GOFLAGS=-buildvcs=false
RUN mkdir -p /go/bin /go/src && chmod -R 1777 /go && go version
WORKDIR /go
