# planscale: a small, static, non-root image.
#
# Not built on the project's development machines (they have no container
# runtime); build it where one exists:
#   docker build -t planscale:0.1.0 .
#
# Stage 1 builds a fully static binary against musl (TLS is rustls: no OpenSSL).
FROM rust:1.95-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin planscale \
 && strip target/x86_64-unknown-linux-musl/release/planscale

# Stage 2: nothing but the binary and the CA bundle (for https schedule sources).
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/planscale /planscale
# Matches the Deployment's runAsUser/runAsGroup; no shell, no package manager.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/planscale"]
CMD ["run", "--policies", "/etc/planscale/policies"]
