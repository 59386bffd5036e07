# syntax=docker/dockerfile:1
#
# ferry's container image: a static ferry binary (musl) on Alpine, with a shell for CI job
# scripts (GitLab runs `script:` with sh), CA certificates, and a non-root user.
#
#   docker build -t ferry .
#   docker run --rm ferry --version
#
# docs/container.md describes its use in GitLab CI, Jenkins, Tekton and plain `docker run`.
# Build arguments: RUST_VERSION, ALPINE_VERSION; VERSION, REVISION and SOURCE for the labels
# (`--build-arg VERSION=v0.3.0 --build-arg REVISION=$(git rev-parse HEAD)
# --build-arg SOURCE=https://github.com/OWNER/ferry`; REVISION is also the commit `ferry
# --version` names, since .git is not in the build context); FERRY_BINARY, where the binary
# comes from:
#   build     (default) compiled from source in the `build` stage below;
#   prebuilt  dist/<arch>/ferry of the build context (<arch>: amd64, arm64): the release
#             workflow's binaries, so the image holds exactly the released, attested binaries.
# The last stage only copies files (no RUN), so with FERRY_BINARY=prebuilt
# `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation; from source, each
# platform's build stage runs natively or emulated. `--target binary --output type=local,dest=DIR`
# writes just the compiled binary to DIR/ferry (how the release workflow builds Linux binaries).

ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.22
ARG FERRY_BINARY=build

FROM rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS build

# The C parts are built from source and linked statically:
# - libgit2 and libssh2 (git2's `https` and `ssh` features; vendored, since Alpine's -dev
#   packages are not installed), linked against Alpine's OpenSSL: openssl-dev and its static
#   archives (OPENSSL_NO_VENDOR below);
# - zlib-ng (crates/libz-sys, with the C compiler: it inflates fetched packs faster than zlib,
#   README "zlib-ng without cmake") and aws-lc (rustls and the GitHub App's JWT). No cmake.
RUN apk add --no-cache build-base perl pkgconf linux-headers openssl-dev openssl-libs-static

# openssl-sys: link libssl.a and libcrypto.a, never a shared OpenSSL; pkg-config answers with
# static flags. The musl target links the C runtime statically by default (crt-static).
ARG REVISION=
ENV OPENSSL_STATIC=1 \
    OPENSSL_NO_VENDOR=1 \
    PKG_CONFIG_ALL_STATIC=1 \
    CARGO_TERM_COLOR=never \
    FERRY_BUILD_COMMIT=${REVISION}

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

# Just the binary: `docker buildx build --target binary --output type=local,dest=DIR .`
FROM scratch AS binary
COPY --from=build /out/ferry /ferry

# The release workflow's binary for the platform being built.
FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/${TARGETARCH}/ferry /out/ferry

FROM ${FERRY_BINARY} AS selected

# The user, made on the build machine's platform: the files are the same on every platform.
FROM --platform=$BUILDPLATFORM alpine:${ALPINE_VERSION} AS user
RUN adduser -D -u 10001 -g ferry ferry

FROM alpine:${ALPINE_VERSION}

ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="ferry" \
      org.opencontainers.image.description="A Git-native CI bot that changes GitOps environment repositories: bump image tags, preview environments, promotions" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Alpine's base holds the CA certificates (ca-certificates-bundle: ferry talks HTTPS to the
# forges and git hosts) and busybox's sh. No RUN here: see the top.
COPY --from=user /etc/passwd /etc/group /etc/shadow /etc/
COPY --from=user --chown=10001:10001 /home/ferry /home/ferry
COPY --from=selected /out/ferry /usr/local/bin/ferry

USER 10001:10001
WORKDIR /home/ferry
ENTRYPOINT ["ferry"]
CMD ["--help"]
