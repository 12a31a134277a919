# Portcullis — run `make help` for the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tools, pinned, built into ./bin.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# The OPA CLI of the OPA version go.mod requires, for make opa-test.
OPA_VERSION ?= $(shell go list -m -f "{{.Version}}" github.com/open-policy-agent/opa)
OPA ?= $(LOCALBIN)/opa-$(OPA_VERSION)
# The Helm CLI, for the chart's tests and `helm install`.
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
export HELM

# The control plane that envtest and `portcullis dev` run, built from the Go
# module proxy by hack/build-controlplane.sh. Its version is written in one
# place, the k8s.io/kubernetes that hack/controlplane/go.mod requires; it is
# read from there (internal/devenv.KubernetesVersion is tested against it).
KUBERNETES_VERSION ?= $(shell sed -n 's/^[[:space:]]*k8s\.io\/kubernetes v\([^[:space:]]*\).*/\1/p' $(CURDIR)/hack/controlplane/go.mod)
CONTROL_PLANE_DIR ?= $(LOCALBIN)/k8s/$(KUBERNETES_VERSION)-linux-amd64
export KUBEBUILDER_ASSETS := $(CONTROL_PLANE_DIR)

PORTCULLIS ?= $(LOCALBIN)/portcullis
GO_TEST_FLAGS ?= -race -count=1

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs, the RBAC, the webhook configuration, config/policies, the policy input schema and the chart's generated parts.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/...;./controllers/...;./internal/ingest/...;./internal/manager/...;./internal/admission/...;./internal/signalsink/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	go run ./hack/gen

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files (api, config, charts, docs) are stale: run `make manifests generate` and commit.
	@stale="$$(git diff --name-only -- api config charts docs internal/policy/input.schema.json; git ls-files --others --exclude-standard -- api config charts docs internal/policy/input.schema.json)"; \
	if [ -n "$$stale" ]; then \
		echo "Generated files are stale; run 'make manifests generate' and commit:"; echo "$$stale"; exit 1; \
	fi

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change (run make fmt):"; echo "$$unformatted"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with the linters of .golangci.yml.
	$(GOLANGCI_LINT) run ./...

.PHONY: kustomize-check
kustomize-check: ## Check that config/default, config/policies, config/samples, config/prometheus and config/ssf render with kubectl kustomize.
	kubectl kustomize config/default > /dev/null
	kubectl kustomize config/policies > /dev/null
	kubectl kustomize config/samples > /dev/null
	kubectl kustomize config/prometheus > /dev/null
	kubectl kustomize config/ssf > /dev/null

##@ Test

.PHONY: test
test: verify-generated fmt-check vet lint kustomize-check policy-test opa-test controlplane test-deps unit fuzz ## Run every check and test suite: generated files, vet, lint (with the import rules), Rego tests and scenarios, unit and envtest suites.

.PHONY: policy-test
policy-test: build ## Run the default library's Rego unit tests and scenario suites, and its detection targets (portcullis test policies --detection).
	$(PORTCULLIS) test policies --detection

# A module that calls http.send, which the sandbox refuses: opa check with
# policies/capabilities.json must refuse it too.
SANDBOX_PROBE := package sandbox_probe\n\nprobe := http.send({"method": "GET", "url": "https://example.com"})\n

.PHONY: opa-test
opa-test: $(OPA) ## Run the library's Rego tests with the standard OPA CLI and check that policies/capabilities.json makes opa refuse what Portcullis refuses.
	$(OPA) test policies/
	$(OPA) test policies/ --capabilities policies/capabilities.json --schema docs/schemas -v
	$(OPA) check --capabilities policies/capabilities.json --schema docs/schemas policies/
	@probe="$$(mktemp -d)"; trap 'rm -rf "$$probe"' EXIT; \
	printf '$(SANDBOX_PROBE)' > "$$probe/probe.rego"; \
	if out="$$($(OPA) check --capabilities policies/capabilities.json "$$probe/probe.rego" 2>&1)"; then \
		echo "opa check accepted http.send with policies/capabilities.json: run make capabilities"; exit 1; \
	fi; \
	grep -q 'undefined function http.send' <<<"$$out" || { echo "$$out"; exit 1; }; \
	echo "opa check refuses http.send with policies/capabilities.json, as Portcullis does"

.PHONY: capabilities
capabilities: ## Regenerate policies/capabilities.json, the builtins Portcullis allows policies, for opa check/test --capabilities.
	go test ./internal/policy -run '^TestCapabilitiesFileMatchesSandbox$$' -count=1 -args -update-capabilities

.PHONY: detection
detection: build ## Measure the default library's detection on the labelled scenarios (policies/scenarios): hostile actioned, honest revoked or quarantined; fail below the targets.
	$(PORTCULLIS) test policies --detection

.PHONY: test-deps
test-deps: ## Install the Debian packages of the servers the tests run (PostgreSQL, slapd), when missing.
	hack/install-test-deps.sh

.PHONY: unit
unit: controlplane test-deps $(HELM) ## Run the Go tests (unit, envtest and real-server suites) against bin/k8s.
	go test $(GO_TEST_FLAGS) ./...

# A number of runs, not a duration: a time limit can end while a worker
# is mid-run, and go test then fails with "context deadline exceeded".
FUZZTIME ?= 80000x
SSF_FUZZTIME ?= 20000x

.PHONY: fuzz
fuzz: ## Fuzz the sign-in event parser for FUZZTIME (80,000 runs, about 10 s, in make test; FUZZTIME=5m for a longer run) and the Security Event Token verifier for SSF_FUZZTIME (20,000 runs).
	go test ./internal/signals -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	go test ./internal/ssf -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(SSF_FUZZTIME)

SECURITY_FUZZTIME ?= 30s

.PHONY: security
security: build controlplane test-deps ## Replay the attacks of docs/security.md and print what held (slow; its fast cases run in make test).
	@echo "== Escalation, allow-lists, credentials and exceptions, against the real API server with an unprivileged user"
	go test -count=1 -v ./controllers -run TestControllers -args -ginkgo.focus='Least privilege' -ginkgo.v
	@echo "== The manager under the RBAC it ships"
	go test -count=1 -v ./test/rbac
	@echo "== Hostile account ids and cleartext refusals against the real PostgreSQL, slapd and SCIM servers"
	go test -count=1 -v -run 'Hostile|Insecure|Cleartext' ./internal/connectors/...
	@echo "== Fuzzing the SCIM filter, LDAP filter and LDAP DN builders, the sign-in parser and the SET verifier, $(SECURITY_FUZZTIME) each"
	go test ./internal/connectors/scim -run '^$$' -fuzz '^FuzzSCIMFilter$$' -fuzztime $(SECURITY_FUZZTIME)
	go test ./internal/connectors/ldap -run '^$$' -fuzz '^FuzzLDAPFilter$$' -fuzztime $(SECURITY_FUZZTIME)
	go test ./internal/connectors/ldap -run '^$$' -fuzz '^FuzzLDAPDN$$' -fuzztime $(SECURITY_FUZZTIME)
	go test ./internal/signals -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(SECURITY_FUZZTIME)
	go test ./internal/ssf -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(SECURITY_FUZZTIME)
	@echo "== The sign-in endpoint under a hostile flood: the server alone (heap), then the manager against a control plane (RSS)"
	PORTCULLIS_FLOOD=1 PORTCULLIS_FLOOD_TOKENS=50 go test -count=1 -v -run '^TestFlood$$' ./internal/ingest
	go run ./test/bench --portcullis $(PORTCULLIS) --control-plane-dir $(CONTROL_PLANE_DIR) --steps flood

.PHONY: bench
bench: build controlplane ## Run the Go benchmarks, then the harness against a local control plane (BENCH_ARGS="--grants 10000").
	go test -run '^$$' -bench . -benchmem ./internal/policy/... ./internal/signals/... ./internal/ssf/... ./controllers/...
	go run ./test/bench --portcullis $(PORTCULLIS) --control-plane-dir $(CONTROL_PLANE_DIR) $(BENCH_ARGS)

.PHONY: chaos
chaos: build controlplane test-deps ## Kill, restart and break the manager, API server and connected systems; fail on a lost or duplicated transition (slow; docs/chaos.md).
	PORTCULLIS_CHAOS=1 PORTCULLIS_BINARY=$(PORTCULLIS) go test ./test/chaos -run TestChaos -v -timeout 30m -count=1

.PHONY: envtest
envtest: controlplane ## Print the export line for running envtest suites by hand (go test ./controllers/...).
	@echo "export KUBEBUILDER_ASSETS=$(CONTROL_PLANE_DIR)"

.PHONY: controlplane
controlplane: $(CONTROL_PLANE_DIR)/kube-apiserver ## Build kube-apiserver and etcd from the Go module proxy into bin/k8s (once; several minutes).

$(CONTROL_PLANE_DIR)/kube-apiserver: hack/controlplane/go.mod hack/controlplane/go.sum hack/build-controlplane.sh
	hack/build-controlplane.sh $(CONTROL_PLANE_DIR)
	@touch $@

##@ Build and run

# What `portcullis version` prints and the image tag: the nearest v* tag
# (with -N-gHASH past it), else v0.0.0-dev. The revision and commit time are
# stamped from git too, since GOFLAGS=-buildvcs=false or a build outside a
# checkout leaves them out of the build info.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null || echo v0.0.0-dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
COMMIT_TIME ?= $(shell git log -1 --format=%cI 2>/dev/null)
VERSION_PKG := github.com/portcullis-dev/portcullis/internal/version
VERSION_LDFLAGS ?= -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).revision=$(REVISION) -X $(VERSION_PKG).commitTime=$(COMMIT_TIME)
IMAGE_REPOSITORY ?= ghcr.io/portcullis-dev/portcullis
IMAGE_DIR ?= $(LOCALBIN)/image

.PHONY: build
build: ## Build the portcullis binary into bin/.
	go build -ldflags "$(VERSION_LDFLAGS)" -o $(PORTCULLIS) ./cmd/portcullis

.PHONY: image
image: ## Build the reproducible container image (no Docker needed) into bin/image: OCI layout, docker-load tarball, SPDX SBOM.
	go run ./hack/image --out $(IMAGE_DIR) --repository $(IMAGE_REPOSITORY) --version $(VERSION)

CHART_DIR ?= $(LOCALBIN)/chart

.PHONY: chart
chart: $(HELM) ## Package the Helm chart into bin/chart, versioned VERSION (without its v) with appVersion VERSION, the image tag make image builds.
	$(HELM) lint --strict charts/portcullis
	$(HELM) package charts/portcullis --destination $(CHART_DIR) --version $(patsubst v%,%,$(VERSION)) --app-version $(VERSION)

.PHONY: run
run: build controlplane ## Start a local control plane with the CRDs, the default policy library, the samples, the manager and the sign-in endpoint (portcullis dev).
	@$(MAKE) --no-print-directory geoip || echo "Warning: no GeoIP data (see above); sign-ins get no country or ASN."
	$(PORTCULLIS) dev --control-plane-dir $(CONTROL_PLANE_DIR) --geoip-dir $(GEOIP_DIR) $(RUN_ARGS)

GEOIP_DIR ?= $(LOCALBIN)/geoip

.PHONY: geoip
geoip: ## Fetch the free ip-location-db country, city (coordinates) and ASN data from the npm registry into bin/geoip (once).
	hack/fetch-geoip.sh $(GEOIP_DIR)

.PHONY: asn-lists
asn-lists: ## Regenerate policies/portcullis/networks.yaml (hosting and mobile ASNs) from ip-location-db's ASN data with the reviewed tables of hack/asnlists.
	hack/asn-lists.sh policies/portcullis/networks.yaml

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(OPA):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	mv $(LOCALBIN)/opa $@

$(HELM):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $@

.PHONY: helm
helm: $(HELM) ## Build the Helm CLI into bin/ (from the Go module proxy).

$(GOLANGCI_LINT):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@
