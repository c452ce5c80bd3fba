# syntax=docker/dockerfile:1
# The manager image: a static binary on distroless, running as non-root
# (65532), matching the restricted securityContext in config/manager.

FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Dependencies first, in their own layer, so source edits do not re-download.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

# Only what the manager is built from (.dockerignore keeps the rest out).
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/

# CGO off: a static binary that needs no libc in the final image.
# -trimpath and stripped symbols: reproducible and small.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/manager /manager
# The nonroot user of distroless; the Deployment also pins runAsUser 65532.
USER 65532:65532
# callback server, metrics, health probes (see config/manager/manager.yaml).
EXPOSE 9443 8080 8081
ENTRYPOINT ["/manager"]
