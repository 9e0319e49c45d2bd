# tokengate container image: a static binary on distroless, as nonroot.
#
#   make image        # docker build with VERSION, COMMIT and DATE from git: tokengate:<version>
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg DATE=$(TZ=UTC0 git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD) -t tokengate .
#   docker run -v $PWD/tokengate.yaml:/etc/tokengate/tokengate.yaml:ro -p 9191:9191 -p 8181:8181 tokengate
#
# In a container the config must listen on all interfaces (grpc.address
# "0.0.0.0:9191", http.address "0.0.0.0:8181"): the defaults are 127.0.0.1.
# `make image-check` builds with the RUN go build line below and checks the
# result, for machines without a Docker engine.

FROM golang:1.26-bookworm AS build
ARG VERSION=dev
# The commit and its time (RFC 3339), printed by `tokengate version`; empty: not shown.
ARG COMMIT=
ARG DATE=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/tokengate ./cmd/tokengate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokengate /tokengate
USER nonroot:nonroot
EXPOSE 9191 8181
ENTRYPOINT ["/tokengate", "serve"]
CMD ["--config", "/etc/tokengate/tokengate.yaml"]
