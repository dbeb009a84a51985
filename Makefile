# webhook-relay — build, test, run.
#   make demo    the whole relay on this machine: embedded broker, receiver, sample webhooks
#   make test    install system packages if missing, then run every test suite
#   make build   release build of the webhook-relay binary
#   make broker  run the embedded development broker
#   make soak    the long reliability suite and fuzzing (docs/reliability.md)
#   make bench   benchmarks (see BENCHMARKS.md)

SWIFT ?= swift
export SWIFT_BACKTRACE ?= enable=no

.PHONY: all deps build debug demo test soak broker bench clean

all: build

# librdkafka (C) and pkg-config are the only system packages the build needs.
deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product webhook-relay

debug: deps
	$(SWIFT) build --product webhook-relay

demo: debug
	$(SWIFT) run webhook-relay demo

# Pure suites (no broker, no network, no timing) run in parallel; the others one after another:
# they start brokers, relays and HTTP servers whose timing assertions should not compete for this
# machine's two cores.
UNIT_SUITES = ^(WebhookRelayUnitTests|WebhookSignatureTests)\.

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --filter '$(UNIT_SUITES)'
	$(SWIFT) test --skip-build --no-parallel --skip '$(UNIT_SUITES)'

# R1–R6 with ten times the records, then libFuzzer on the record decoder and the endpoints file.
soak: deps
	./scripts/reliability/soak.sh

broker: debug
	$(SWIFT) run webhook-relay broker --brokers 1 --relay-topics

# Micro-benchmarks, then end to end (nginx, wrk and a Python virtualenv are installed if missing).
bench: deps
	./scripts/bench/micro.sh
	./scripts/bench/e2e.sh
	./scripts/bench/fanout.sh
	./scripts/bench/ordered.sh

clean:
	rm -rf .build
