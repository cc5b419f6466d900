# logbook: `make test` sets up, builds and runs every test; `make demo` runs a
# short real job on the embedded default data directory.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
DATA_DIR ?= ./logbook-data

.PHONY: all setup build test test-fast asan demo serve bench bench-http bench-langgraph bench-costs bench-retention format clean

all: build

setup:
	@bash tools/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -L fast

# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOGBOOK_SANITIZE=ON -DLOGBOOK_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure

demo: build
	LOGBOOK=$(BUILD)/logbook DATA_DIR=$(DATA_DIR) bash tools/demo.sh

serve: build
	$(BUILD)/logbook --data-dir $(DATA_DIR) serve

bench: build
	$(BUILD)/append_bench

bench-http: build
	$(BUILD)/http_bench

# LangGraph checkpointer: logbook's saver against the PostgreSQL saver (starts
# a local PostgreSQL 15; installs Debian's postgresql-15 when missing).
bench-langgraph: build
	bash bench/langgraph/run.sh $(BUILD)/logbook

# Cost summary/alerts latency over 10 M usage events, and checkpoint approvals
# over HTTP; ARGS="--quick" or ARGS="--events 1000000" for shorter runs.
bench-costs: build
	$(BUILD)/cost_bench $(ARGS)

# Retention pruning of 1 M events (90% expired) against a plain RocksDB peer
# deleting the same keys; ARGS="--quick" or ARGS="--events 200000" for shorter runs.
bench-retention: build
	$(BUILD)/retention_bench $(ARGS)

format:
	cmake --build $(BUILD) --target format

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
