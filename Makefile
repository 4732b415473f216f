# pod-hardener: the commands a newcomer and CI use.
CARGO ?= cargo
BIN := target/release/pod-hardener
EXAMPLE ?= examples/deployment.yaml

.PHONY: build install test fmt-check clippy unit preview run bench load soak flood hostile fuzz clean e2e kind-e2e image deploy manifests-check chart-check chart-render

## build: the release binary at target/release/pod-hardener (the first build takes 5-9 minutes on 2 cores; cargo shows its progress)
build:
	@[ -x $(BIN) ] || echo "make: first build of pod-hardener (release): 5-9 minutes on 2 cores, then seconds"
	$(CARGO) build --release --locked --bin pod-hardener

## install: pod-hardener into ~/.cargo/bin (on PATH wherever rustup installed Rust)
install:
	$(CARGO) install --locked --path . --bin pod-hardener

## test: formatting, lints with -D warnings, and every test (unit, property, corpus, fixtures, black-box)
test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --all-targets

## preview: the hardening of an example manifest, as a diff
preview: build
	$(BIN) preview -f $(EXAMPLE)

## run: the webhook on https://127.0.0.1:8443 with a self-signed certificate and the built-in profiles
run: build
	$(BIN) serve --self-signed --address 127.0.0.1:8443 --metrics-address 127.0.0.1:9090

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

## hostile: issue 11's hostile inputs against the release binary: time, peak RSS and answer per row; not in CI
hostile:
	bench/hostile

## fuzz: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (60); not in CI
fuzz:
	bench/fuzz

## e2e: the end-to-end suite through a real kube-apiserver. Uses KUBE_APISERVER and ETCD,
## KUBEBUILDER_ASSETS or KUBECONFIG when set; otherwise hack/control-plane builds the current
## kube-apiserver and etcd from their Go modules (once, cached), and where that fails the
## Debian tool provides v1.20.2. The suite's first line names the API server version it ran.
e2e:
	$(CARGO) build --locked --bin pod-hardener
	@if [ -n "$$KUBE_APISERVER$$KUBEBUILDER_ASSETS$$KUBECONFIG" ]; then \
	  $(CARGO) test --locked -p pod-hardener-e2e --test e2e; \
	elif provided="$$(hack/control-plane)" || provided="$$($(KUBE_APISERVER_FALLBACK))"; then \
	  eval "$$provided" && export KUBE_APISERVER ETCD && \
	  $(CARGO) test --locked -p pod-hardener-e2e --test e2e; \
	else \
	  echo "e2e: skipped: neither hack/control-plane (needs Go and the Go module proxy) nor $(KUBE_APISERVER_FALLBACK) (root on Debian bookworm) could provide an API server; set KUBE_APISERVER and ETCD, KUBEBUILDER_ASSETS or KUBECONFIG"; \
	fi

# The fallback: kube-apiserver v1.20.2 from Debian's source package (about 5 minutes, as root).
KUBE_APISERVER_FALLBACK ?= $(firstword $(wildcard ../shared/tools/kube-apiserver-debian) hack/kube-apiserver-debian)

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

## manifests-check: render manifests/ (base and every overlay) with kubectl kustomize and validate it without a cluster (hack/manifests-check; the first run installs its Python packages from PyPI into target/manifests-check/venv)
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
