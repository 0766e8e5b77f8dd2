package hls

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ReadManifest reads dir/wdc_hls.json as written by Emit.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, "wdc_hls.json"))
	if err != nil {
		return m, fmt.Errorf("%s is not an HLS project written by wdc: %v", dir, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %v", filepath.Join(dir, "wdc_hls.json"), err)
	}
	return m, nil
}

// Build compiles the C simulation (g++ -O2 -std=c++17) into dir/csim.
func Build(dir string) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return fmt.Errorf("g++ is needed for HLS C simulation: install the Debian package g++")
	}
	cmd := exec.Command(gxx, "-O2", "-std=c++17", "-ffp-contract=off", "-Wall", "-o", "csim", "tb.cpp", m.Top+".cpp")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("g++ failed in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// CSim builds (if needed) and runs the C simulation of the project in dir
// on the given vectors (each holding all inputs' values concatenated) and
// returns, per vector, the raw fixed-point words of all outputs
// concatenated in output order.
func CSim(dir string, inputs [][]float32) ([][]int64, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "csim")); err != nil {
		if err := Build(dir); err != nil {
			return nil, err
		}
	}
	want := 0
	for _, p := range m.Inputs {
		want += p.Size
	}
	nOut := 0
	for _, p := range m.Outputs {
		nOut += p.Size
	}
	var b strings.Builder
	for i, v := range inputs {
		if len(v) != want {
			return nil, fmt.Errorf("vector %d has %d values, the design takes %d", i+1, len(v), want)
		}
		for j, f := range v {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
		}
		b.WriteByte('\n')
	}
	inPath := filepath.Join(dir, "csim_input.txt")
	outPath := filepath.Join(dir, "csim_output.txt")
	if err := os.WriteFile(inPath, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("./csim", "csim_input.txt", "csim_output.txt")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("C simulation failed: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(inputs) == 0 {
		return nil, nil
	}
	if len(lines) != len(inputs) {
		return nil, fmt.Errorf("C simulation wrote %d output lines for %d vectors", len(lines), len(inputs))
	}
	res := make([][]int64, len(lines))
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != nOut {
			return nil, fmt.Errorf("C simulation output line %d has %d words, want %d", i+1, len(f), nOut)
		}
		res[i] = make([]int64, nOut)
		for j, s := range f {
			if res[i][j], err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("C simulation output line %d: %v", i+1, err)
			}
		}
	}
	return res, nil
}
