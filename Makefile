# wdc: the Work-Depth Compiler.  `make demo` and `make test` work on a fresh machine.
GO      ?= go
BIN     := bin/wdc
EXAMPLE ?= examples/lenet5.wdc

.PHONY: all setup build demo test vet fmt-check fuzz bench gpu-bundle gpu-check clean

all: build

setup:
	@bash .ci/setup.sh

build:
	$(GO) build -o $(BIN) ./cmd/wdc

# Run the main job on a bundled example: its answer and its W-D report.
demo: setup build
	@echo "== wdc run $(EXAMPLE)"
	@$(BIN) run $(EXAMPLE) --output-dir out/demo
	@echo
	@echo "== wdc cost $(EXAMPLE)"
	@$(BIN) cost $(EXAMPLE)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: setup fmt-check vet
	$(GO) test -count=1 -timeout 30m ./...

# Fuzz the parsers for a while each (not part of `make test`; the kept
# corpora under testdata/fuzz run as ordinary tests there).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME) ./ir
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME) ./frontend/dsl
	$(GO) test -run XXX -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./frontend/onnx

# Benchmarks: wdc against onnxruntime, PyTorch and OpenBLAS in one
# interleaved run per model, printing ratios (docs/benchmarks.md). The suite:
# LeNet-5, the jet tagger, ResNet-18 (batch 1, 224x224), three conv layers
# and SGEMM 1024^3. BENCH_TARGET is cpu (compiled) or interpreter.
BENCH_TARGET  ?= cpu
BENCH_THREADS ?= 2
BENCH_FLAGS   ?=
BENCH_MODELS  ?=
bench: setup build
	$(BIN) bench --target $(BENCH_TARGET) --threads $(BENCH_THREADS) $(BENCH_FLAGS) $(BENCH_MODELS)

# The GPU check (docs/gpu-backend.md): the bundle (generated CUDA sources,
# inputs, golden outputs) is prepared here; on a machine with an NVIDIA GPU,
# nvcc and PyTorch, run.sh builds, checks and times it. Without a GPU,
# GPU_CHECK_FLAGS=--emulate checks the outputs through the CPU emulation.
GPU_BUNDLE ?= out/gpu-bundle
gpu-bundle:
	$(GO) run ./testbench/gpu/prepare -o $(GPU_BUNDLE)
gpu-check:
	@if [ ! -f $(GPU_BUNDLE)/run.sh ]; then $(GO) run ./testbench/gpu/prepare -o $(GPU_BUNDLE); fi
	bash $(GPU_BUNDLE)/run.sh $(GPU_CHECK_FLAGS)

clean:
	rm -rf bin out
