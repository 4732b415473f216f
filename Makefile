# pod-hardener: the commands a newcomer and CI use.
CARGO ?= cargo
BIN := target/release/pod-hardener
EXAMPLE ?= examples/deployment.yaml

.PHONY: build test fmt-check clippy unit preview run bench load soak flood fuzz clean

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

## bench: criterion benches of the engine and admission path, then the load run
bench:
	$(CARGO) bench --locked --bench engine
	bench/load

## load: the release binary over TLS with h2load, HTTP/1.1 and HTTP/2 (bench/load --write-results refreshes bench/RESULTS.md)
load:
	bench/load

## soak: SOAK_MINUTES (10) at 2,000 reviews/s with certificate rotation and profile rewrites; not in CI
soak:
	bench/soak

## flood: idle TLS connections and slowloris clients during normal reviews; not in CI
flood:
	bench/flood

## fuzz: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (60); not in CI
fuzz:
	bench/fuzz

clean:
	$(CARGO) clean
