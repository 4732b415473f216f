# pod-hardener image: a static binary on distroless/static, non-root, a few MiB.
# The built-in profile catalog is compiled into the binary (include_str!).
#   make image                  # docker or podman build -t $(IMAGE) .
# Build stage: the same toolchain family as CI; glibc's static linking
# (crt-static) gives a binary with no shared libraries, so the run stage needs
# no libc at all. The webhook resolves no host names, the one thing static
# glibc cannot do well.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin pod-hardener \
 && cp target/x86_64-unknown-linux-gnu/release/pod-hardener /pod-hardener \
 && /pod-hardener profiles list >/dev/null

# Run stage: no shell, no package manager, uid 65532 (distroless "nonroot").
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /pod-hardener /usr/local/bin/pod-hardener
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/pod-hardener"]
CMD ["serve", "--config", "/etc/pod-hardener/config/config.yaml"]
