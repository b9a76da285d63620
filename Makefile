# Rampart: `make demo` runs the platform story end to end; `make test` runs every test.
# Both install missing Debian packages (as root, with apt-get) and build what they need.
SHELL := /bin/bash
BUILD ?= build

.PHONY: all deps build test demo bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@scripts/build.sh $(BUILD)

test: deps
	@/usr/bin/python3 scripts/run-tests.py

demo: deps build
	@scripts/demo.sh $(BUILD)

# Each benchmark prints ratios against a reference run in the same invocation (docs/benchmarks.md).
bench: deps build
	bench/package_verify $(BUILD)
	/usr/bin/python3 bench/api/run.py --build $(BUILD)
	$(BUILD)/bench/ca_issue
	bench/attest/run.sh $(BUILD)
	bench/app_start.sh $(BUILD)
	RAMPART_BUILD=$(BUILD) /usr/bin/python3 bench/update/vs_rauc.py
	RAMPART_BUILD=$(BUILD) /usr/bin/python3 bench/update/idle_bytes.py
	RAMPART_BUILD=$(BUILD) /usr/bin/python3 bench/update/agent_memory.py

clean:
	rm -rf build build-asan build-fuzz
