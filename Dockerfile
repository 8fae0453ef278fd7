# tailor's container image: a binary built with cgo on a distroless base that
# has the C library (cgo keeps the block cache off Go's heap and runs the
# disk syncs outside Go's scheduler, see the README), run as a non-root user,
# its data on the /data volume.
#
#   docker build -t tailor --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v tailor-data:/data -v $PWD/tokens.json:/etc/tailor/tokens.json:ro tailor
#
# The server listens on all interfaces inside the container, so it requires
# tokens (--auth); deploy/compose.yaml runs it with Prometheus.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tailor ./cmd/tailor \
 && mkdir -p /out/data

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/tailor /usr/local/bin/tailor
# An empty /data owned by the non-root user, so that a new volume is writable.
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
VOLUME /data
EXPOSE 8080
# Ready means the store is open and writable (see /readyz in the README).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/tailor", "probe", "http://127.0.0.1:8080/readyz"]
# SIGTERM drains requests for up to --drain (30 s); give docker stop as long.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tailor", "serve", "--addr", "0.0.0.0:8080", "--data", "/data", "--backup-dir", "/data/backups"]
CMD ["--auth", "/etc/tailor/tokens.json"]
