package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

// The test binary doubles as a fake peer: with WDC_FAKE_PEER set it speaks
// the line protocol, running models with the reference interpreter and
// reporting a fixed latency, so Run can be checked without node or Python.
//
// WDC_FAKE_PEER modes: "good" (correct outputs, 2 ms a run), "wrong"
// (outputs off by 1), "noload" (load fails), "die" (exits on run),
// "garbage" (answers run with a line that is not JSON).
func TestMain(m *testing.M) {
	if mode := os.Getenv("WDC_FAKE_PEER"); mode != "" {
		fakePeer(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakePeer(mode string) {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 64<<20)
	out := json.NewEncoder(os.Stdout)
	var g *ir.Graph
	feeds := map[string]*ir.Tensor{}
	for in.Scan() {
		var req Request
		var rep Reply
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			out.Encode(Reply{Error: "bad request: " + err.Error()})
			continue
		}
		switch req.Op {
		case "load":
			if mode == "noload" {
				fmt.Fprintln(os.Stderr, "fake: refusing to load")
				rep.Error = "cannot load " + filepath.Base(req.Model)
				break
			}
			var err error
			if g, err = onnx.Load(req.Model, onnx.Options{}); err != nil {
				rep.Error = err.Error()
				break
			}
			rep = Reply{OK: true, Peer: "fake", Version: "fake 1.0 " + mode, Threads: req.Threads}
		case "set_inputs":
			for _, m := range req.Inputs {
				t, err := DecodeTensor(m)
				if err != nil {
					rep.Error = err.Error()
					break
				}
				feeds[m.Name] = t
			}
			rep.OK = rep.Error == ""
		case "run":
			if mode == "die" {
				fmt.Fprintln(os.Stderr, "fake: dying on purpose")
				os.Exit(3)
			}
			if mode == "garbage" {
				fmt.Println("this is not json")
				continue
			}
			res, err := runtime.Run(g, feeds)
			if err != nil {
				rep.Error = err.Error()
				break
			}
			rep.OK = true
			for i := 0; i < req.Runs; i++ {
				rep.MS = append(rep.MS, 2)
			}
			if req.WantOutputs {
				for _, v := range g.Outputs {
					t := res[v.Name].Clone()
					if mode == "wrong" {
						for i := range t.F {
							t.F[i]++
						}
					}
					m, _ := EncodeTensor(v.Name, t)
					rep.Outputs = append(rep.Outputs, m)
				}
			}
		case "quit":
			return
		default:
			rep.Error = "unknown op " + req.Op
		}
		out.Encode(rep)
	}
}

func fakeSpec(t *testing.T, name, mode string) PeerSpec {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return PeerSpec{Name: name, Command: []string{exe, "-test.run=^$"}, Env: append(os.Environ(), "WDC_FAKE_PEER="+mode)}
}

// lenetFile writes the generated LeNet-5 into a temporary directory.
func lenetFile(t *testing.T) string {
	t.Helper()
	m, _ := LookupSuite("lenet5")
	p, err := ModelPath(m, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTensorWire(t *testing.T) {
	x := ir.FromFloats(ir.Shape{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25})
	m, err := EncodeTensor("x", x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := DecodeTensor(m)
	if err != nil || !y.Equal(x) {
		t.Fatalf("round trip: %v %v", y, err)
	}
	m.Shape = []int{7}
	if _, err := DecodeTensor(m); err == nil || !strings.Contains(err.Error(), "needs 28 bytes, got 24") {
		t.Errorf("wrong size: %v", err)
	}
	if _, err := EncodeTensor("i", ir.FromInts(ir.Int64, ir.Shape{1}, []int64{1})); err == nil {
		t.Error("int tensor accepted")
	}
}

// The protocol against the fake peer: load, inputs, runs, outputs, errors.
func TestProtocolFakePeer(t *testing.T) {
	path := lenetFile(t)
	ctx := context.Background()
	p, err := StartPeer(ctx, fakeSpec(t, "fake", "good"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Call(Request{Op: "frobnicate"}); err == nil || !strings.Contains(err.Error(), "peer fake: frobnicate: unknown op frobnicate") {
		t.Errorf("unknown op: %v", err)
	}
	if err := p.Load(path, 2); err != nil {
		t.Fatal(err)
	}
	if p.Version != "fake 1.0 good" {
		t.Errorf("version %q", p.Version)
	}
	g, err := onnx.Load(path, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := RandomInputs(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetInputs([]string{"input"}, in); err != nil {
		t.Fatal(err)
	}
	ms, outs, order, err := p.Run(4, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 || ms[0] != 2 || len(order) != 1 || order[0] != "logits" {
		t.Errorf("run: ms %v order %v", ms, order)
	}
	want, _ := runtime.Run(g, in)
	if !outs["logits"].Equal(want["logits"]) {
		t.Errorf("outputs differ: %v vs %v", outs["logits"].F, want["logits"].F)
	}
}

func TestProtocolPeerFailures(t *testing.T) {
	path := lenetFile(t)
	ctx := context.Background()

	p, err := StartPeer(ctx, fakeSpec(t, "fake", "die"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(path, 1); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = p.Run(1, false)
	if err == nil || !strings.Contains(err.Error(), "the peer process stopped (exit status 3)") || !strings.Contains(err.Error(), "dying on purpose") {
		t.Errorf("dead peer: %v", err)
	}
	p.Close()

	p, err = StartPeer(ctx, fakeSpec(t, "fake", "garbage"))
	if err != nil {
		t.Fatal(err)
	}
	p.Load(path, 1)
	if _, _, _, err = p.Run(1, false); err == nil || !strings.Contains(err.Error(), "not a JSON protocol line") {
		t.Errorf("garbage: %v", err)
	}
	p.Close()

	if _, err := StartPeer(ctx, PeerSpec{Name: "nope", Command: []string{"/nonexistent/peer"}}); err == nil || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("missing program: %v", err)
	}
}

// Run end to end with fake peers: ratios from the reported latencies,
// output checks, and a failing peer reported without failing the run.
func TestRunWithFakePeers(t *testing.T) {
	path := lenetFile(t)
	cfg := Config{
		Model: path, Target: "interp", Threads: 2, Runs: 3, Warmup: 1, Gap: -1, MinTurn: 5 * time.Millisecond,
		Peers: []string{"onnxruntime", "pytorch", "openblas"},
		PeerSpecs: map[string]PeerSpec{
			"onnxruntime": fakeSpec(t, "onnxruntime", "good"),
			"pytorch":     fakeSpec(t, "pytorch", "wrong"),
			"openblas":    fakeSpec(t, "openblas", "noload"),
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Runner != "reference interpreter" || r.Threads != 2 || r.Rounds != 3 || r.WDC.N < 3 || !(r.WDC.Median > 0) {
		t.Errorf("wdc side: %+v", r)
	}
	// LeNet-5: conv1 2·6·28·28·25, conv2 2·16·10·10·150, dense 2·(400·120+120·84+84·10).
	if want := int64(2*6*28*28*25 + 2*16*10*10*150 + 2*(400*120+120*84+84*10)); r.FLOPs != want {
		t.Errorf("FLOPs = %d, want %d", r.FLOPs, want)
	}
	if len(r.Peers) != 3 {
		t.Fatalf("peers: %+v", r.Peers)
	}
	ort, pt, ob := r.Peers[0], r.Peers[1], r.Peers[2]
	if ort.Err != "" || !ort.Agree || ort.MaxAbsDiff != 0 || ort.Stats.Median != 2 || !near(ort.Ratio, r.WDC.Median/2) {
		t.Errorf("good peer: %+v", ort)
	}
	// A peer faster than MinTurn runs a burst per round: 2 ms -> 3 runs.
	if ort.Stats.N != 9 {
		t.Errorf("good peer ran %d times, want 3 rounds x 3", ort.Stats.N)
	}
	if pt.Err != "" || pt.Agree || math.Abs(pt.MaxAbsDiff-1) > 1e-6 {
		t.Errorf("wrong peer must be measured but flagged: %+v", pt)
	}
	if ob.Err == "" || !strings.Contains(ob.Err, "cannot load") || !math.IsNaN(ob.Ratio) {
		t.Errorf("failing peer: %+v", ob)
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Run(ctx, Config{}); err == nil || !strings.Contains(err.Error(), "no model") {
		t.Errorf("no model: %v", err)
	}
	if _, err := Run(ctx, Config{Model: filepath.Join(t.TempDir(), "missing.onnx")}); err == nil {
		t.Error("missing model accepted")
	}
	path := lenetFile(t)
	if _, err := Run(ctx, Config{Model: path, Target: "tpu"}); err == nil || !strings.Contains(err.Error(), `target "tpu" has no runner`) {
		t.Errorf("unknown target: %v", err)
	}
	if _, err := Run(ctx, Config{Model: path, Peers: []string{"tensorflow"}}); err == nil || !strings.Contains(err.Error(), "unknown peer") {
		t.Errorf("unknown peer: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, Config{Model: path, Runs: 100}); err == nil {
		t.Error("cancelled context ignored")
	}
}

// Integration with the real peers, when they are installed.
func TestRealPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real peers not started")
	}
	path := lenetFile(t)
	var peers []string
	if _, err := PeerSpecFor("onnxruntime", t.TempDir(), PeersDir(), 1); err != nil {
		t.Logf("onnxruntime peer skipped: %v", err)
	} else {
		peers = append(peers, "onnxruntime")
	}
	if err := exec.Command(Python, "-c", "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torch', 'onnx')))").Run(); err != nil {
		t.Logf("pytorch peer skipped: %s has no torch or onnx module (%v); %s", Python, err, PeerSetupHint)
	} else {
		peers = append(peers, "pytorch")
	}
	if len(peers) == 0 {
		t.Skipf("no real peer installed; %s", PeerSetupHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, Config{Model: path, Threads: 1, Runs: 2, Warmup: 1, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Peers {
		if p.Err != "" {
			t.Errorf("%s: %s", p.Name, p.Err)
			continue
		}
		if !p.Agree || p.MaxAbsDiff > 1e-4 || !(p.Stats.Median > 0) || !(p.Ratio > 0) {
			t.Errorf("%s: %+v", p.Name, p)
		}
		t.Logf("%s %s: median %.4f ms, wdc/peer %.2f, max|diff| %.2g", p.Name, p.Version, p.Stats.Median, p.Ratio, p.MaxAbsDiff)
	}
}
