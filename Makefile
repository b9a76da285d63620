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

bench: deps build
	@for b in bench/*/run; do echo "== $$b"; "$$b" $(BUILD) || exit 1; done

clean:
	rm -rf build build-asan build-fuzz
