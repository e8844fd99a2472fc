# syntax=docker/dockerfile:1
# The server image: built from the locked dependency tree, run as a non-root
# user on a distroless runtime. The server speaks PostgreSQL's protocol in
# Rust (sqlx), so the runtime needs no libpq: only glibc, libgcc and CA
# certificates, which distroless/cc has, and nothing else (no shell).
# CI builds the release binary with the same cargo command (.ci/run).

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY services services
COPY clients clients
COPY tests tests
RUN cargo build --release --locked -p frontierwatch-server \
    && install -D -m 0755 target/release/frontierwatch-server /out/frontierwatch-server

FROM gcr.io/distroless/cc-debian12:nonroot
# Kubernetes probes the gRPC health service (deploy/kubernetes); it ignores
# HEALTHCHECK, and distroless has no shell or client to run one with.
# checkov:skip=CKV_DOCKER_2:Kubernetes gRPC probes replace HEALTHCHECK
COPY --from=build /out/frontierwatch-server /usr/local/bin/frontierwatch-server
USER 65532:65532
EXPOSE 50051 8081
ENV FRONTIERWATCH_LISTEN=0.0.0.0:50051 \
    FRONTIERWATCH_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/frontierwatch-server"]
