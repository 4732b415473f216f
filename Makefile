# pod-hardener: the commands a newcomer and CI use.
CARGO ?= cargo
BIN := target/release/pod-hardener
EXAMPLE ?= examples/deployment.yaml

.PHONY: build test fmt-check clippy unit preview run bench clean manifests-check

build:
	$(CARGO) build --release --locked

## test: formatting, lints with -D warnings, and every test (unit, property, corpus, fixtures, black-box)
test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --all-targets

## preview: the hardening of an example manifest, as a diff
preview:
	$(CARGO) run --quiet --locked -- preview -f $(EXAMPLE)

## run: the webhook on https://127.0.0.1:8443 with a self-signed certificate and the built-in profiles
run:
	$(CARGO) run --release --locked -- serve --self-signed --address 127.0.0.1:8443 --metrics-address 127.0.0.1:9090

## bench: criterion benches of the engine and admission path
bench:
	$(CARGO) bench --locked --bench engine

## manifests-check: render manifests/ (base and every overlay) with kubectl kustomize and validate it offline (hack/manifests-check)
manifests-check:
	hack/manifests-check

clean:
	$(CARGO) clean
