package bench

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed peers/ort_peer.js peers/py_peer.py
var peerScripts embed.FS

// PeerNames are the peers Run knows, in display order.
var PeerNames = []string{"onnxruntime", "pytorch", "openblas"}

var peerAliases = map[string]string{
	"onnxruntime": "onnxruntime", "ort": "onnxruntime",
	"pytorch": "pytorch", "torch": "pytorch",
	"openblas": "openblas", "numpy": "openblas", "blas": "openblas",
}

// CanonicalPeer maps a peer name or alias ("ort", "torch", "numpy") to its
// canonical name.
func CanonicalPeer(name string) (string, error) {
	if c, ok := peerAliases[strings.ToLower(strings.TrimSpace(name))]; ok {
		return c, nil
	}
	return "", fmt.Errorf("unknown peer %q (known: %s)", name, strings.Join(PeerNames, ", "))
}

// ParsePeers splits a --vs list such as "onnxruntime,pytorch".
func ParsePeers(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		c, err := CanonicalPeer(f)
		if err != nil {
			return nil, err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// PeersDir finds testbench/bench/peers, where `npm ci` installs
// onnxruntime-node: $WDC_BENCH_PEERS, else the first ancestor of the
// working directory or of the executable that holds it.
func PeersDir() string {
	if d := os.Getenv("WDC_BENCH_PEERS"); d != "" {
		return d
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			for _, c := range []string{filepath.Join(d, "testbench", "bench", "peers"), filepath.Join(d, "peers")} {
				if st, err := os.Stat(filepath.Join(c, "package.json")); err == nil && !st.IsDir() {
					return c
				}
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return ""
}

// PeerSetupHint says how to install the peers.
const PeerSetupHint = "install them with: apt-get install -y python3-torch python3-onnx python3-numpy python3-threadpoolctl; " +
	"cd testbench/bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci"

// Python is the interpreter the Python peers run under: Debian's, where
// python3-torch, python3-onnx and python3-numpy live.
var Python = "/usr/bin/python3"

// PeerSpecFor says how to start the named peer with threads threads.
// scriptDir holds the peer scripts (see WritePeerScripts); peersDir is
// where node_modules is (see PeersDir). It checks that the programs and
// packages are there, so a missing peer fails early with a clear reason.
func PeerSpecFor(name, scriptDir, peersDir string, threads int) (PeerSpec, error) {
	c, err := CanonicalPeer(name)
	if err != nil {
		return PeerSpec{}, err
	}
	env := peerEnv(threads)
	switch c {
	case "onnxruntime":
		node, err := exec.LookPath("node")
		if err != nil {
			return PeerSpec{}, fmt.Errorf("peer onnxruntime needs Node.js (node) on PATH: %v", err)
		}
		if peersDir == "" {
			return PeerSpec{}, fmt.Errorf("peer onnxruntime: cannot find testbench/bench/peers (run from the repository or set WDC_BENCH_PEERS); %s", PeerSetupHint)
		}
		mods := filepath.Join(peersDir, "node_modules")
		if _, err := os.Stat(filepath.Join(mods, "onnxruntime-node", "package.json")); err != nil {
			return PeerSpec{}, fmt.Errorf("peer onnxruntime: onnxruntime-node is not installed in %s; %s", mods, PeerSetupHint)
		}
		env = append(env, "NODE_PATH="+mods)
		return PeerSpec{Name: c, Command: []string{node, filepath.Join(scriptDir, "ort_peer.js")}, Env: env}, nil
	case "pytorch", "openblas":
		if _, err := os.Stat(Python); err != nil {
			return PeerSpec{}, fmt.Errorf("peer %s needs %s (Debian's python3): %v", c, Python, err)
		}
		// Benchmark OpenBLAS at its best: the workplace pins an older core
		// type for correctness elsewhere; outputs are checked here anyway.
		env = dropEnv(env, "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
		return PeerSpec{Name: c, Command: []string{Python, "-u", filepath.Join(scriptDir, "py_peer.py"), c}, Env: env}, nil
	}
	return PeerSpec{}, fmt.Errorf("peer %s has no runner", c)
}

// peerEnv is this process's environment with the thread counts of the
// usual threading libraries pinned to threads.
func peerEnv(threads int) []string {
	if threads < 1 {
		threads = 1
	}
	n := strconv.Itoa(threads)
	vars := []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}
	env := dropEnv(os.Environ(), vars...)
	for _, v := range vars {
		env = append(env, v+"="+n)
	}
	return env
}

func dropEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// WritePeerScripts writes the embedded peer scripts into dir (created if
// needed) and returns dir, so the peers match this binary wherever it runs.
func WritePeerScripts(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range []string{"ort_peer.js", "py_peer.py"} {
		b, err := peerScripts.ReadFile("peers/" + f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
