# tenant-operator Makefile (kubebuilder v4 conventions).

IMG ?= tenant-operator:dev
# Environments the operator is deployed for; build-installer writes one YAML each.
ENVIRONMENTS ?= sod stage online

# Tools are built with `go install` at pinned versions and cached outside the
# clone, keyed by version, so a fresh clone (CI's) reuses them.
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tenant-operator
TOOLS_DIR ?= $(CACHE_DIR)/tools
LOCALBIN ?= $(CURDIR)/bin

CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0

CONTROLLER_GEN ?= $(TOOLS_DIR)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(TOOLS_DIR)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$$($(ENVTEST_DIR_CMD))/kubectl")
ENVTEST_DIR_CMD = hack/envtest.sh

GO_TEST_FLAGS ?= -count=1 -timeout 30m
FUZZTIME ?= 30s

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/...;./internal/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt (check only under CI=true).
	@if [ -n "$$CI" ]; then out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi; else go fmt ./...; fi

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run --timeout 15m ./...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files differ from what is committed (CI only).
	@if [ -n "$$CI" ]; then \
	  if [ -n "$$(git status --porcelain -- api config/crd config/rbac)" ]; then \
	    echo "generated files are stale: run 'make manifests generate' and commit"; git status --porcelain -- api config/crd config/rbac; git diff -- api config | head -50; exit 1; \
	  fi; fi

.PHONY: test
test: verify-generated fmt vet lint envtest ## Run every test against a real control plane.
	KUBEBUILDER_ASSETS="$$($(ENVTEST_DIR_CMD))" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out

.PHONY: bench
bench: envtest ## Run the benchmarks (ratios measured side by side).
	KUBEBUILDER_ASSETS="$$($(ENVTEST_DIR_CMD))" go test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME.
	@for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary.
	go build -o bin/manager ./cmd/manager

.PHONY: run
RUN_ARGS ?=
run: manifests generate fmt vet envtest ## Run the whole system locally (see README); RUN_ARGS passes flags to it.
	go build -o bin/devenv ./cmd/devenv
	@# exec: Ctrl-C reaches devenv directly, which stops everything and exits 0.
	exec bin/devenv $(RUN_ARGS)

.PHONY: docker-build
docker-build: ## Build the container image (needs a container engine).
	docker build -t $(IMG) .

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write one installer YAML per environment into dist/.
	mkdir -p dist
	@for env in $(ENVIRONMENTS); do \
	  (cd config/overlays/$$env && $(KUSTOMIZE) edit set image controller=$(IMG)) && \
	  $(KUSTOMIZE) build config/overlays/$$env > dist/install-$$env.yaml && echo "wrote dist/install-$$env.yaml"; \
	  git checkout -q -- config/overlays/$$env/kustomization.yaml 2>/dev/null || true; \
	done

##@ Deployment

ENV ?= online

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator for ENV (sod, stage, online).
	$(KUSTOMIZE) build config/overlays/$(ENV) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator for ENV.
	$(KUSTOMIZE) build config/overlays/$(ENV) | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: envtest
envtest: ## Build (once) and print the test control plane directory for KUBEBUILDER_ASSETS.
	@$(ENVTEST_DIR_CMD)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs package $2 at version $3 as the file $1, via a
# temporary GOBIN so a killed install never leaves a half-written tool.
define go-install-tool
@set -e; mkdir -p $(TOOLS_DIR); tmp=$$(mktemp -d); \
echo "installing $(2)@$(3)"; \
GOBIN=$$tmp GOFLAGS= go install $(2)@$(3); \
mv $$tmp/$$(basename $(2) | sed 's/^v[0-9]*$$/kustomize/') $(1); rm -rf $$tmp
endef
