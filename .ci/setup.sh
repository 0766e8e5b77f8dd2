#!/usr/bin/env bash
# Installs what wdc needs and is missing, and says what it did. Safe to run
# again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the toolchains the backends drive, and protoc for
# regenerating the ONNX Go types.
pkgs=(llvm-14 clang-14 verilator yosys g++ protobuf-compiler)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present: ${pkgs[*]}"
fi

command -v go >/dev/null || { echo "setup: Go is not installed (need Go >= 1.26 on PATH)" >&2; exit 1; }
if go list -m all >/dev/null 2>&1 && go mod verify >/dev/null 2>&1; then
  echo "setup: Go modules present"
else
  echo "setup: downloading Go modules"
  go mod download
fi
