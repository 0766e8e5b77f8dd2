#!/bin/sh
# Regenerates onnx.pb.go from onnx.proto (copied from Debian's python3-onnx,
# /usr/lib/python3/dist-packages/onnx/onnx.proto, ONNX 1.x, proto2 syntax).
# Needs protoc (Debian protobuf-compiler, libprotoc 3.21.12 was used) and
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -e
cd "$(dirname "$0")"
protoc --go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=wdc/frontend/onnx/onnxpb onnx.proto
