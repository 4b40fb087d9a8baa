# One image with every ferroloop binary (the Helm chart picks the command per Deployment).
#   docker build -t ghcr.io/ferroloop/ferroloop:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --workspace --bins \
 && mkdir /out \
 && for b in api-adapter admin-api prepare-handler position-handler fulfil-handler timeout-handler \
             notification-handler get-handler db-migrate; do cp target/release/$b /out/; done

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT []
