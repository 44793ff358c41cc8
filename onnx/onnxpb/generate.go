// Package onnxpb holds the Go types of the ONNX protobuf schema, generated
// from onnx.proto (ONNX 1.12, IR version 8; Apache-2.0, copied from
// Debian's python3-onnx 1.12.0, /usr/lib/python3/dist-packages/onnx) with
// protoc and protoc-gen-go v1.36.12:
//
//	apt-get install protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go generate ./onnx/onnxpb
//
// Package onnx reads and writes models with these types.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/fovea-ml/fovea/onnx/onnxpb onnx.proto
