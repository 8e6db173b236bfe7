# mcpgate as a container: a static binary (CGO_ENABLED=0; the SQLite driver
# is pure Go), running as a non-root user in an image with no shell.
#
#   docker build -t mcpgate .
#   docker run -p 8080:8080 -v mcpgate-data:/data mcpgate \
#     serve --listen :8080 --public-url https://mcp.example.com/mcp
#
# deploy/deploy_test.go builds the binary with the same command and runs it
# from an otherwise empty directory as uid 65532.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/mcpgate ./cmd/mcpgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcpgate /mcpgate
# The SQLite store and its encryption.key live here when no --store is given.
COPY --from=build --chown=65532:65532 /out/data /data
ENV MCPGATE_DATA=/data
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/mcpgate"]
CMD ["serve", "--listen", ":8080", "--admin-listen", ":9090"]
