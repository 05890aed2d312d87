# The stand-in for python:3.11-slim-bookworm: the local Debian root with
# Debian's Python 3.11, venv and pip. `python` is python3, as in the official
# image (there in /usr/local/bin, here in /usr/bin: both on PATH).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      python3.11='3.11.2-6*' \
      python3-venv='3.11.2-1*' \
      python3-pip='23.0.1+dfsg-1*' \
      python-is-python3='3.11.2-1*' \
 && rm -rf /var/lib/apt/lists/*
# pip's own certificate bundle lacks the machine's extra authorities, which
# the system bundle of the root has.
ENV LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
