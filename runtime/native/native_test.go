package native_test

import (
	"os/exec"
	"strings"
	"testing"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/runtime/native"
)

func TestLoadRunClose(t *testing.T) {
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 is not installed")
	}
	g := ir.NewGraph("tiny")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{2, 3}}, ir.Pos{})
	y, _ := g.AddNode("relu", "y", []*ir.Value{x}, nil, ir.Pos{})
	g.Outputs = []*ir.Value{y}
	dir := t.TempDir()
	if _, err := llvm.Compile(g, dir, llvm.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := ir.FromFloats(ir.Shape{2, 3}, []float32{-1, 2, -3, 4, 0, 5})
	out, err := m.Run(map[string]*ir.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 2, 0, 4, 0, 5}
	for i, v := range want {
		if out["y"].F[i] != v {
			t.Fatalf("y = %v, want %v", out["y"].F, want)
		}
	}
	if err := m.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]*ir.Tensor{
		{},
		{"x": ir.FromFloats(ir.Shape{6}, make([]float32, 6))},
		{"x": in, "z": in},
	} {
		if _, err := m.Run(bad); err == nil {
			t.Errorf("Run(%v) succeeded", bad)
		}
	}
	// RunInto writes into the caller's outputs (reused, in place); an
	// output sharing the input's storage goes through the C buffers.
	reused := map[string]*ir.Tensor{"y": ir.NewTensor(ir.Float32, ir.Shape{2, 3})}
	for round := 0; round < 2; round++ {
		if err := m.RunInto(map[string]*ir.Tensor{"x": in}, reused); err != nil {
			t.Fatal(err)
		}
		for i, v := range want {
			if reused["y"].F[i] != v {
				t.Fatalf("RunInto round %d: y = %v, want %v", round, reused["y"].F, want)
			}
		}
	}
	alias := ir.FromFloats(ir.Shape{2, 3}, []float32{-1, 2, -3, 4, 0, 5})
	if err := m.RunInto(map[string]*ir.Tensor{"x": alias}, map[string]*ir.Tensor{"y": alias}); err != nil {
		t.Fatal(err)
	}
	for i, v := range want {
		if alias.F[i] != v {
			t.Fatalf("RunInto in place: y = %v, want %v", alias.F, want)
		}
	}
	for _, bad := range []map[string]*ir.Tensor{
		{},
		{"y": ir.NewTensor(ir.Float32, ir.Shape{3, 2})},
		{"y": ir.NewTensor(ir.Int32, ir.Shape{2, 3})},
	} {
		if err := m.RunInto(map[string]*ir.Tensor{"x": in}, bad); err == nil {
			t.Errorf("RunInto(outputs %v) succeeded", bad)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(map[string]*ir.Tensor{"x": in}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := native.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a compiled model") {
		t.Errorf("Load(empty dir) = %v", err)
	}
}
