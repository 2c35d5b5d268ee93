# syntax=docker/dockerfile:1
#
# consentd container image.
#
#   DOCKER_BUILDKIT=1 docker build -t consentd:0.1.0 .
#   docker run --rm -p 50051:50051 -p 8080:8080 -v consentd-data:/var/lib/consentd consentd:0.1.0
#
# Build stage: the official Rust image (Debian bookworm, the same Debian release
# as the runtime image, so the glibc the binary links against is there).
# BuildKit cache mounts keep the cargo registry and the target directory
# between builds; the binary is copied out of the cached target directory in
# the same step, since cache mounts are not part of the image.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=consentd-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=consentd-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=consentd-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p consentd \
 && install -D -m 0755 target/release/consentd /out/usr/local/bin/consentd \
 && install -d -m 0750 /out/var/lib/consentd

# Runtime stage: Debian slim of the same release (glibc and libgcc, all a Rust
# binary needs) plus the build stage's CA bundle, no packages installed,
# running as uid/gid 65532 (no passwd entry is needed for a numeric user).
FROM debian:bookworm-slim

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="consentd" \
      org.opencontainers.image.description="consentd: a consent-record microservice (gRPC API, vendor HTTP gateway, change feed, webhooks)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

COPY --from=builder /out/usr/local/bin/consentd /usr/local/bin/consentd
# The CA bundle, for webhook deliveries over HTTPS (the HTTP client loads the
# system roots when it is built, at start: without them serve fails).
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The SQLite default location, owned by the runtime user so that a fresh
# volume mounted here is writable (no VOLUME: the data's lifetime is the
# deployer's choice, e.g. the Helm chart's PersistentVolumeClaim).
COPY --from=builder --chown=65532:65532 /out/var/lib/consentd /var/lib/consentd

# Numeric, so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 65532:65532
# consentd's default database URL (sqlite://consentd.db?mode=rwc) is relative
# to the working directory: without any configuration the database is
# /var/lib/consentd/consentd.db. No ENV sets the URL, so a config file's
# database_url still applies (environment variables would take precedence).
WORKDIR /var/lib/consentd

# gRPC (API, health, reflection) and HTTP (vendor API, /healthz, /readyz, /metrics).
EXPOSE 50051 8080

ENTRYPOINT ["/usr/local/bin/consentd"]
CMD ["serve"]
