# trawl — multi-stage build: compile with the Rust toolchain, ship a slim runtime.
# Build:  docker build -t trawl .
# Run:    docker run --rm -v "$PWD/out:/data" trawl crawl https://example.com/ --out /data/crawl-out
# Fleet:  docker compose up --scale worker=4   (docker-compose.yml: Redis + workers)
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not refetch crates.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin trawl \
 && strip target/release/trawl

FROM debian:bookworm-slim
# TLS roots are compiled into the binary (webpki-roots): no ca-certificates needed.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin trawl \
 && mkdir -p /data /etc/trawl \
 && chown trawl:trawl /data
COPY --from=build /src/target/release/trawl /usr/local/bin/trawl
COPY config/default.toml /etc/trawl/default.toml
COPY config/products.toml /etc/trawl/products.toml
COPY seeds /etc/trawl/seeds
USER trawl
WORKDIR /data
VOLUME ["/data"]
# --metrics 0.0.0.0:9090 serves Prometheus metrics here (docker-compose.yml does).
EXPOSE 9090
ENTRYPOINT ["trawl"]
CMD ["--help"]
