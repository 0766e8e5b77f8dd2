package cuda

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"wdc/ir"
	"wdc/runtime"
)

// Clang is the compiler the checks use for CUDA without a GPU (Debian's
// clang-19; clang-14 knows no sm_90).
const Clang = "clang-19"

// FindClang returns the path of clang-19 or an error naming the package.
func FindClang() (string, error) {
	p, err := exec.LookPath(Clang)
	if err != nil {
		return "", fmt.Errorf("the CUDA checks need %s (Debian package clang-19: apt-get install clang-19), and it is not on PATH", Clang)
	}
	return p, nil
}

func runIn(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := out.String()
		if len(msg) > 4000 {
			msg = msg[:4000] + "\n..."
		}
		return fmt.Errorf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, msg)
	}
	return nil
}

// CheckPTX compiles the kernels of an artifact directory to PTX for
// every architecture (model_<arch>.ptx) and type-checks the host code of
// model.cu and driver.cu, all with clang-19's CUDA front end and the
// minimal declarations of wdc_cuda.h (no CUDA installation needed).
func CheckPTX(dir string, archs ...string) error {
	clang, err := FindClang()
	if err != nil {
		return err
	}
	if len(archs) == 0 {
		archs = []string{"sm_80", "sm_90"}
	}
	common := []string{"-x", "cuda", "-nocudainc", "-nocudalib", "-DWDC_NOCUDAINC", "-std=c++17", "-Werror=return-type", "-Wno-unknown-cuda-version"}
	for _, a := range archs {
		args := append(append([]string{}, common...), "--cuda-device-only", "--cuda-gpu-arch="+a, "-O2", "-S", "-o", "model_"+a+".ptx", "model.cu")
		if err := runIn(dir, clang, args...); err != nil {
			return err
		}
	}
	for _, f := range []string{"model.cu", "driver.cu"} {
		args := append(append([]string{}, common...), "--cuda-host-only", "--cuda-gpu-arch="+archs[0], "-fsyntax-only", f)
		if err := runIn(dir, clang, args...); err != nil {
			return err
		}
	}
	return nil
}

// BuildEmulator compiles the artifact's model.cu and driver.cu as C++
// with the CPU emulation (g++), giving run_model_emu in dir.
func BuildEmulator(dir string, extraFlags ...string) (string, error) {
	args := append([]string{"-O1", "-std=c++17", "-DWDC_EMULATE", "-w"}, extraFlags...)
	args = append(args, "-x", "c++", "model.cu", "-x", "c++", "driver.cu", "-o", "run_model_emu", "-lm")
	if err := runIn(dir, "g++", args...); err != nil {
		return "", err
	}
	return filepath.Join(dir, "run_model_emu"), nil
}

// RunDriver runs a driver program (emulated or real) of the artifact in
// dir on inputs (in the artifact's order) and returns its outputs.
func RunDriver(dir, exe string, a *Artifact, inputs []*ir.Tensor) ([]*ir.Tensor, error) {
	tmp, err := os.MkdirTemp("", "wdc-cuda-run")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"-w", filepath.Join(dir, "weights.bin"), "-o", tmp}
	for i, t := range inputs {
		p := filepath.Join(tmp, fmt.Sprintf("input_%d.npy", i))
		if err := runtime.SaveNPY(p, t); err != nil {
			return nil, err
		}
		args = append(args, p)
	}
	if err := runIn(dir, exe, args...); err != nil {
		return nil, err
	}
	var outs []*ir.Tensor
	for j := range a.Outputs {
		t, err := runtime.LoadNPY(filepath.Join(tmp, fmt.Sprintf("output_%d.npy", j)))
		if err != nil {
			return nil, err
		}
		outs = append(outs, t)
	}
	return outs, nil
}
