# trawl — multi-stage build: compile with the Rust toolchain, ship a slim runtime.
# Build:  docker build -t trawl .
# Run:    docker run --rm -v "$PWD/out:/data" trawl crawl https://example.com/ --out /data/crawl-out
# Fleet:  cp redis.env.example .env (set its password), then
#         docker compose up --scale worker=4   (docker-compose.yml: Redis + workers)
#
# Base images are pinned by digest: a tag can be moved to a different image, a digest
# cannot. To update one, look up the tag's current digest and paste it after the tag:
#   docker buildx imagetools inspect rust:1.95-slim-bookworm      (the "Digest:" line)
# or: docker pull rust:1.95-slim-bookworm && \
#     docker inspect --format '{{index .RepoDigests 0}}' rust:1.95-slim-bookworm
# (the same for debian:bookworm-slim). The builder's Rust must be at least
# Cargo.toml's rust-version (1.90).
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src
# Dependencies first, in their own layer: the manifest, the lock and an empty crate
# (the bench target must exist for the manifest to load) are built alone, so an
# edit under src/ rebuilds only trawl itself, never the crates.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin trawl \
 && rm -rf src target/release/trawl target/release/deps/trawl-* target/release/deps/libtrawl-* \
    target/release/.fingerprint/trawl-*
COPY src ./src
RUN cargo build --release --locked --bin trawl \
 && strip target/release/trawl

FROM debian:bookworm-slim@sha256:7b140f374b289a7c2befc338f42ebe6441b7ea838a042bbd5acbfca6ec875818 AS runtime
# TLS roots are compiled into the binary (webpki-roots): no ca-certificates needed.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin trawl \
 && mkdir -p /data /etc/trawl \
 && chown trawl:trawl /data
COPY --from=build /src/target/release/trawl /usr/local/bin/trawl
COPY config/default.toml /etc/trawl/default.toml
COPY config/products.toml /etc/trawl/products.toml
COPY seeds /etc/trawl/seeds
# Numeric, so the host and Kubernetes' runAsNonRoot can check it (hadolint DL3066).
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# --metrics 0.0.0.0:9090 serves Prometheus metrics here (docker-compose.yml does).
EXPOSE 9090
# Healthy while the metrics endpoint answers 200: run crawls with
# --metrics 0.0.0.0:9090 (the compose workers do). The slim image has no curl; bash
# (essential in Debian) speaks the one request itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
ENTRYPOINT ["trawl"]
CMD ["--help"]

# The image with a browser, for --render auto|always (about 300 MB more):
#   docker build --target render -t trawl:render .
# Debian's headless Chromium, unpinned on purpose: a browser runs hostile scripts, so
# the image takes the security updates of the day it is built.
FROM runtime AS render
USER 0:0
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001

# The default image (the last stage): trawl alone, no browser.
FROM runtime
