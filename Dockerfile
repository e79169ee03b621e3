# zei: the single-file binary (build/README.md) in three stages.
#
#   docker build -t zei .                 runtime: distroless, /zei root-owned 4755, USER 65532
#   docker build --target test .          the unit tests + tests/binary against the binary
#
# Behind a TLS-inspecting proxy or with a package mirror (builder only, see build/certs/):
#   cp my-proxy-ca.crt build/certs/        trusted by apt and pip in the builder
#   --build-arg PIP_INDEX_URL=https://mirror/simple [--build-arg PIP_TRUSTED_HOST=mirror]
#   --build-arg APT_MIRROR=http://mirror/debian
#   HTTP_PROXY / HTTPS_PROXY / NO_PROXY are passed through as usual.
ARG BUILDER_IMAGE=debian:bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12

FROM ${BUILDER_IMAGE} AS builder
ARG APT_MIRROR=""
ARG PIP_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY build/certs/ /usr/local/share/ca-certificates/zei-build/
# The tool chain of build/build.sh (its own apt step then finds nothing missing).
# hadolint ignore=DL3008
RUN if [ -n "$APT_MIRROR" ]; then \
        sed -i "s|http://deb.debian.org/debian|$APT_MIRROR|g" /etc/apt/sources.list.d/debian.sources; \
    fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3.11-dev python3.11-venv \
       gcc make ccache patchelf zlib1g-dev libexpat1-dev binutils \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/ensure-apt scripts/ensure-apt
COPY build/ build/
# (Build arguments are in the environment of RUN; empty ones are dropped for pip.)
RUN [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; [ -n "$PIP_TRUSTED_HOST" ] || unset PIP_TRUSTED_HOST; \
    build/build.sh --deps
COPY zei/ zei/
RUN build/build.sh \
    && install -D -m 4755 -o 0 -g 0 dist/zei /out/zei

FROM builder AS test
ARG PIP_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""
# Unit tests from the source tree, then the artifact's own suite against the binary. A
# build container has no CAP_SYS_ADMIN, so the namespace/chroot tests of tests/binary skip
# here (ZEI_REQUIRE_BIN unset); `make test` on a host runs all of them.
COPY requirements.txt requirements-dev.txt pyproject.toml ./
RUN [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; [ -n "$PIP_TRUSTED_HOST" ] || unset PIP_TRUSTED_HOST; \
    python3.11 -m venv /venv && /venv/bin/pip install -q -r requirements-dev.txt
COPY tests/ tests/
RUN test -x /src/dist/zei \
    && ZEI_BIN=/src/dist/zei /venv/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/binary

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=builder --chown=0:0 --chmod=4755 /out/zei /zei
# zei reads /etc/zei/zei.yaml unless given -c PATH: add yours in a derived image,
#   COPY zei.yaml /etc/zei/zei.yaml
USER 65532
ENTRYPOINT ["/zei"]
