#!/usr/bin/env bash
# Installs what wdc needs and is missing, and says what it did. Safe to run
# again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the toolchains the backends drive (LLVM for the CPU,
# clang-19 for CUDA device code, Verilator and yosys for RTL, g++ for HLS
# C simulation), protoc for regenerating the ONNX Go types, and the
# benchmark peers (PyTorch, numpy on OpenBLAS, node for onnxruntime).
pkgs=(llvm-14 clang-14 clang-19 verilator yosys g++ protobuf-compiler
  python3-torch python3-onnx python3-numpy python3-threadpoolctl libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm come with the machine's Node.js; Debian's own only if absent.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present: ${pkgs[*]}, node"
fi

# onnxruntime-node, the benchmark's onnxruntime peer (its CPU runtime ships
# inside the npm package; nothing is downloaded at install time).
peers=testbench/bench/peers
if [[ -f $peers/node_modules/onnxruntime-node/package.json ]]; then
  echo "setup: onnxruntime-node present"
else
  echo "setup: installing onnxruntime-node in $peers"
  (cd "$peers" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
fi

command -v go >/dev/null || { echo "setup: Go is not installed (need Go >= 1.26 on PATH)" >&2; exit 1; }
if go list -m all >/dev/null 2>&1 && go mod verify >/dev/null 2>&1; then
  echo "setup: Go modules present"
else
  echo "setup: downloading Go modules"
  go mod download
fi
