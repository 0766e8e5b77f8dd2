package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func sampleResult() *Result {
	return &Result{
		Model: "m.onnx", Target: "cpu", Runner: "reference interpreter", Threads: 2, Rounds: 3, FLOPs: 2e6,
		WDC: Stats{N: 3, Median: 2, P10: 1.5, P90: 3},
		Peers: []PeerResult{
			{Name: "onnxruntime", Version: "1.30.0", Stats: Stats{N: 3, Median: 4, P10: 3, P90: 5}, Ratio: 0.5, MaxAbsDiff: 1e-6, MaxAbsRef: 2, Agree: true},
			{Name: "pytorch", Ratio: math.NaN(), MaxAbsDiff: math.NaN(), Err: "peer pytorch: load: no torch"},
		},
		CPUs: 2, LoadBefore: 0.5, LoadAfter: math.NaN(),
	}
}

// The JSON report has exactly the keys the CLI promises, with these types.
func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleResult().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if m["model"] != "m.onnx" || m["target"] != "cpu" || m["threads"] != 2.0 || m["median_ms"] != 2.0 {
		t.Errorf("top level: %v", m)
	}
	peers, ok := m["peers"].(map[string]any)
	if !ok || len(peers) != 2 {
		t.Fatalf("peers: %v", m["peers"])
	}
	ort := peers["onnxruntime"].(map[string]any)
	if ort["median_ms"] != 4.0 || ort["ratio"] != 0.5 || ort["outputs_agree"] != true {
		t.Errorf("onnxruntime: %v", ort)
	}
	pt := peers["pytorch"].(map[string]any)
	if _, has := pt["median_ms"]; !has || pt["median_ms"] != nil || pt["ratio"] != nil || !strings.Contains(pt["error"].(string), "no torch") {
		t.Errorf("a failed peer keeps median_ms and ratio as null and says why: %v", pt)
	}
	if m["gflops"] != 1.0 { // 2e6 flops in 2 ms
		t.Errorf("gflops = %v", m["gflops"])
	}
	if l := m["load_avg"].([]any); l[0] != 0.5 || l[1] != nil {
		t.Errorf("load_avg = %v (NaN must be null)", l)
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	r := sampleResult()
	r.Peers[0].Agree = false
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"m.onnx", "reference interpreter", "threads 2", "median ms", "0.50x", "WRONG", "pytorch: not measured: peer pytorch: load: no torch", "onnxruntime: 1.30.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := WriteSummary(&buf, []*Result{sampleResult()}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "wdc/onnxruntime") || !strings.Contains(s, "0.50x") || !strings.Contains(s, "n/a") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers("ort, torch,onnxruntime,numpy")
	if err != nil || strings.Join(got, ",") != "onnxruntime,pytorch,openblas" {
		t.Errorf("ParsePeers = %v, %v", got, err)
	}
	if _, err := ParsePeers("tensorflow"); err == nil || !strings.Contains(err.Error(), "unknown peer") {
		t.Errorf("unknown peer: %v", err)
	}
}
