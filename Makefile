# Kestrel: the two commands of the README, and a few conveniences.
#   make run    build (Release) and run the host on the built-in sim venue until Ctrl-C
#   make test   build (Debug, ASan + UBSan) and run the whole test suite under ctest
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
DEBUG_BUILD ?= build-debug
CONFIG ?= examples/demo.json
STATE ?= state
CMAKE_FLAGS ?=

.PHONY: all deps build debug run test bench install format clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

debug:
	@sh scripts/install-deps.sh --tests
	@cmake -S . -B $(DEBUG_BUILD) -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(DEBUG_BUILD) -j $(JOBS)

run: build
	./$(BUILD)/kestrel run $(CONFIG) --state-dir $(STATE)

test: debug
	cd $(DEBUG_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	sh bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD)
