# gorun — the Makefile is the interface; CI calls the same targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# go test's per-package timeout; the whole suite takes a few minutes on 2 cores.
TEST_TIMEOUT ?= 20m

.PHONY: all build test test-go deps check-deploy chaos bench bench-go bench-compare fuzz fuzz-ci lint fmt clean

all: build

## build: the three binaries into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## deps: install what the tests need on Debian (openssh-server, ansible-core, sudo, prometheus for promtool) when missing
deps:
	@scripts/deps.sh

## check-deploy: promtool checks of deploy/prometheus (scrape config, rules, rule unit tests)
check-deploy:
	cd deploy/prometheus && promtool check config prometheus.yml
	cd deploy/prometheus && promtool check rules gorun.rules.yml
	cd deploy/prometheus && promtool test rules gorun.rules.test.yml

## test: install test dependencies, check deploy/, vet, run every test with the real parts, then each fuzz target briefly (CI_FUZZTIME)
test: deps check-deploy
	$(GO) vet ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory fuzz-ci

## test-go: only the Go tests (dependencies already installed)
test-go:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

## chaos: the chaos tests at full size: GORUN_CHAOS_JOBS async jobs (10000) over GORUN_CHAOS_HOSTS sshd hosts (50) through 3 executors on a 3-node NATS cluster, an executor killed (kill -9) and restarted every few seconds; then the soak (GORUN_CHAOS_SOAK=1): the same with a NATS node killed and restarted every 10 s. Each prints its figures (jobs, kills, lost, duplicated, re-attached, wall time); CI runs them at 1000 jobs / 20 hosts and a tenth of that
GORUN_CHAOS_JOBS  ?= 10000
GORUN_CHAOS_HOSTS ?= 50
chaos: deps
	GORUN_CHAOS_JOBS=$(GORUN_CHAOS_JOBS) GORUN_CHAOS_HOSTS=$(GORUN_CHAOS_HOSTS) GORUN_CHAOS_SOAK=1 \
		$(GO) test ./e2e -run '^TestChaos' -count=1 -v -timeout 90m

## bench: the Go benchmarks, then the side-by-side comparison with ansible-playbook (BENCHMARKS.md)
bench: deps
	BENCH_HOSTS="$${BENCH_HOSTS##*,}" $(GO) test -run '^$$' -bench . -benchmem ./...
	GO=$(GO) bench/compare.sh

## bench-go: only the Go benchmarks (they take one host count: the last of a BENCH_HOSTS list)
bench-go: deps
	BENCH_HOSTS="$${BENCH_HOSTS##*,}" $(GO) test -run '^$$' -bench . -benchmem ./...

## bench-compare: only gorun vs ansible-playbook on real sshd hosts (BENCH_HOSTS, BENCH_ROUNDS, BENCH_SCENARIOS, BENCH_RUNNERS, BENCH_TIMEOUT); results in bench/results/
bench-compare: deps
	GO=$(GO) bench/compare.sh

## fuzz: every fuzz target (playbook, inventory, host patterns, templates, job records) for FUZZTIME each
FUZZTIME ?= 30s
# fuzz-ci: the same, briefly, as part of make test (CI_FUZZTIME each)
CI_FUZZTIME ?= 5s
fuzz:
	@for file in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go')); do \
		pkg=./$$(dirname $$file); \
		for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz: $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(CI_FUZZTIME)

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
