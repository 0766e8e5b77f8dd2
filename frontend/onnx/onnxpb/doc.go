// Package onnxpb holds the Go types generated from ONNX's onnx.proto.
package onnxpb

//go:generate sh gen.sh
