# pod-hardener: the commands a newcomer and CI use.
CARGO ?= cargo
BIN := target/release/pod-hardener
EXAMPLE ?= examples/deployment.yaml

.PHONY: build test fmt-check clippy unit preview run bench load soak flood fuzz clean e2e kind-e2e image deploy manifests-check chart-check chart-render

build:
	$(CARGO) build --release --locked

## test: formatting, lints with -D warnings, and every test (unit, property, corpus, fixtures, black-box)
test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

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

## e2e: the end-to-end suite through a real kube-apiserver. Uses KUBE_APISERVER and ETCD,
## KUBEBUILDER_ASSETS or KUBECONFIG when set; otherwise builds the API server on Debian first.
e2e:
	$(CARGO) build --locked --bin pod-hardener
	@if [ -n "$$KUBE_APISERVER$$KUBEBUILDER_ASSETS$$KUBECONFIG" ]; then \
	  $(CARGO) test --locked -p pod-hardener-e2e --test e2e; \
	elif provided="$$($(KUBE_APISERVER_TOOL))"; then \
	  eval "$$provided" && export KUBE_APISERVER ETCD && \
	  $(CARGO) test --locked -p pod-hardener-e2e --test e2e; \
	else \
	  echo "e2e: skipped: $(KUBE_APISERVER_TOOL) could not provide an API server (it needs root on Debian bookworm); set KUBE_APISERVER and ETCD, KUBEBUILDER_ASSETS or KUBECONFIG"; \
	fi

# Provides kube-apiserver and etcd on Debian (builds v1.20.2 once, about 5 minutes, as root).
KUBE_APISERVER_TOOL ?= $(firstword $(wildcard ../shared/tools/kube-apiserver-debian) hack/kube-apiserver-debian)

## kind-e2e: for users with Docker: a kind cluster, the image loaded, the webhook deployed, e2e in-cluster
KIND_CLUSTER ?= pod-hardener-e2e
kind-e2e: image
	kind create cluster --name $(KIND_CLUSTER) --wait 120s
	kind load docker-image --name $(KIND_CLUSTER) $(IMAGE)
	$(MAKE) deploy OVERLAY=self-signed
	kubectl -n pod-hardener rollout status deploy/pod-hardener --timeout=180s
	KUBECONFIG=$${KUBECONFIG:-$$HOME/.kube/config} $(CARGO) test --locked -p pod-hardener-e2e --test e2e

## image: the container image (static, non-root, a few MiB), where a container engine exists
IMAGE ?= ghcr.io/pod-hardener/pod-hardener:0.1.0
CONTAINER_ENGINE ?= $(firstword $(shell command -v docker podman 2>/dev/null))
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then echo "make image: needs docker or podman (none found)"; exit 1; fi
	$(CONTAINER_ENGINE) build -t $(IMAGE) .

## deploy: kubectl apply -k of an overlay (cert-manager, self-signed or fail-closed)
OVERLAY ?= cert-manager
deploy:
	@if [ "$(OVERLAY)" = self-signed ]; then \
	  $(CARGO) run --quiet --locked -- certs --out-dir manifests/overlays/self-signed; fi
	kubectl apply -k manifests/overlays/$(OVERLAY)

## manifests-check: render manifests/ (base and every overlay) with kubectl kustomize and validate it offline (hack/manifests-check)
manifests-check:
	hack/manifests-check

## chart-check: the Helm chart in sync with manifests/ (hack/chart-sync --check), helm lint and
## template over charts/pod-hardener/ci/*-values.yaml, and rendering what the kustomize overlays do
chart-check:
	$(CARGO) build --locked --bin pod-hardener
	POD_HARDENER_BIN=target/debug/pod-hardener hack/chart-check

## chart-render: the chart rendered into CHART_OUT (default target/chart.yaml); CHART_ARGS go to helm template
CHART_OUT ?= target/chart.yaml
chart-render:
	hack/chart-check --render $(CHART_OUT) $(CHART_ARGS)

clean:
	$(CARGO) clean
