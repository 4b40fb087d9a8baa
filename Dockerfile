# syntax=docker/dockerfile:1
# One image with every ferroloop binary; the Helm chart picks the command per Deployment
# (/usr/local/bin/<binary>).
#   docker build -t ghcr.io/ferroloop/ferroloop:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
# zlib (librdkafka's compression) is linked statically, so no binary depends on the runtime
# image shipping libz.so.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never
COPY . .
# The caches keep the registry and the target directory between builds; the binaries are copied
# out in the same step because a cache mount is not part of the image. ferroloop-load is the
# load-test tool (load-tests/). The ldd check fails the build, not the pod, if a binary needs a
# shared library that distroless/cc lacks.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --workspace --bins \
 && mkdir /out \
 && for b in api-adapter admin-api prepare-handler position-handler fulfil-handler timeout-handler \
             notification-handler get-handler db-migrate ferroloop-load; do \
      cp "target/release/$b" /out/ || exit 1; \
    done \
 && ! ldd /out/* | grep -vE '^/out/|linux-vdso|ld-linux|lib(c|m|gcc_s|stdc\+\+|dl|pthread|rt)\.so' | grep .

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="ferroloop" \
      org.opencontainers.image.description="FSPIOP (Mojaloop) transfer switch core: every ferroloop binary" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /usr/local/bin/
# distroless "nonroot"; the chart's securityContext uses the same ids.
USER 65532:65532
# No default process: every Deployment and Job names its binary.
ENTRYPOINT []
