# syntax=docker/dockerfile:1
#
# ferry's container image: a static ferry binary (musl) on Alpine, with a shell for CI job
# scripts (GitLab runs `script:` with sh), CA certificates, and a non-root user.
#
#   docker build -t ferry .
#   docker run --rm ferry --version
#
# docs/container.md describes its use in GitLab CI, Jenkins, Tekton and plain `docker run`.
# Build arguments: RUST_VERSION, ALPINE_VERSION, and VERSION and REVISION for the labels
# (`--build-arg VERSION=v0.3.0 --build-arg REVISION=$(git rev-parse HEAD)`). Other platforms:
# `docker buildx build --platform linux/amd64,linux/arm64 .` builds each natively (emulated).

ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22

FROM rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS build

# The C parts are built from source and linked statically into the binary:
# - libgit2 and libssh2 (git2's `https` and `ssh` features; vendored, since Alpine's -dev
#   packages are not installed), linked against OpenSSL: openssl-dev and its static archives;
# - zlib-ng (`zlib-ng-compat`) with cmake;
# - aws-lc (rustls and the GitHub App's JWT) with the C compiler and cmake.
RUN apk add --no-cache build-base cmake perl pkgconf linux-headers openssl-dev openssl-libs-static

# openssl-sys: link libssl.a and libcrypto.a, never a shared OpenSSL; pkg-config answers with
# static flags. The musl target links the C runtime statically by default (crt-static).
ENV OPENSSL_STATIC=1 \
    OPENSSL_NO_VENDOR=1 \
    PKG_CONFIG_ALL_STATIC=1 \
    CARGO_TERM_COLOR=never

WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ferry \
 && install -D -m 0755 target/release/ferry /out/ferry

# Refuse a binary that needs a dynamic loader or shared libraries: the image below has neither
# OpenSSL nor libgcc.
RUN if readelf --dynamic /out/ferry | grep -q NEEDED; then \
      echo "ferry is linked dynamically:" >&2; readelf --dynamic /out/ferry >&2; exit 1; \
    fi \
 && /out/ferry --version

FROM alpine:${ALPINE_VERSION}

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ferry" \
      org.opencontainers.image.description="A Git-native CI bot that changes GitOps environment repositories: bump image tags, preview environments, promotions" \
      org.opencontainers.image.source="https://github.com/acme/ferry" \
      org.opencontainers.image.url="https://github.com/acme/ferry" \
      org.opencontainers.image.documentation="https://github.com/acme/ferry/blob/main/docs/container.md" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# ca-certificates: ferry talks HTTPS to the forges and git hosts. The shell is busybox's sh.
RUN apk add --no-cache ca-certificates \
 && adduser -D -u 10001 -g ferry ferry

COPY --from=build /out/ferry /usr/local/bin/ferry

USER 10001:10001
WORKDIR /home/ferry
ENTRYPOINT ["ferry"]
CMD ["--help"]
