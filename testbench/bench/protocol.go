package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"os/exec"
	"strings"
	"sync"
	"time"

	"wdc/ir"
)

// The peer line protocol. A peer is a long-lived child process that reads
// one JSON request per line on stdin and answers each with one JSON line on
// stdout (anything else it prints goes to stderr, which is kept for error
// messages). Requests, in order:
//
//	{"op":"load","model":PATH,"threads":N}
//	    -> {"ok":true,"peer":NAME,"version":V,"threads":N,"inputs":[META],"outputs":[META]}
//	{"op":"set_inputs","inputs":[TENSOR...]}
//	    -> {"ok":true}
//	{"op":"run","runs":R,"want_outputs":BOOL}
//	    -> {"ok":true,"ms":[R latencies],"outputs":[TENSOR...] (if asked, of the last run)}
//	{"op":"quit"}   (no reply; the peer exits)
//
// A failed request answers {"ok":false,"error":MESSAGE} and the peer stays
// usable. META is {"name","dtype","shape"} (-1 for a symbolic dimension);
// TENSOR is META plus "data": the float32 values, little-endian, base64.
// Latencies are measured by the peer, in its own process, around the
// inference call alone (not the protocol).

// TensorMsg is a tensor (or its description, without Data) on the wire.
type TensorMsg struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Data  string `json:"data,omitempty"`
}

// Request is one protocol request.
type Request struct {
	Op          string      `json:"op"`
	Model       string      `json:"model,omitempty"`
	Threads     int         `json:"threads,omitempty"`
	Inputs      []TensorMsg `json:"inputs,omitempty"`
	Runs        int         `json:"runs,omitempty"`
	WantOutputs bool        `json:"want_outputs,omitempty"`
}

// Reply is one protocol reply.
type Reply struct {
	OK      bool        `json:"ok"`
	Error   string      `json:"error,omitempty"`
	Peer    string      `json:"peer,omitempty"`
	Version string      `json:"version,omitempty"`
	Threads int         `json:"threads,omitempty"`
	Inputs  []TensorMsg `json:"inputs,omitempty"`
	Outputs []TensorMsg `json:"outputs,omitempty"`
	MS      []float64   `json:"ms,omitempty"`
}

// EncodeTensor puts an f32 tensor on the wire.
func EncodeTensor(name string, t *ir.Tensor) (TensorMsg, error) {
	if t.Elem != ir.Float32 {
		return TensorMsg{}, fmt.Errorf("tensor %q is %v; peers take float32 tensors only", name, t.Elem)
	}
	buf := make([]byte, 4*len(t.F))
	for i, v := range t.F {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	return TensorMsg{Name: name, DType: "float32", Shape: append([]int{}, t.Shape...), Data: base64.StdEncoding.EncodeToString(buf)}, nil
}

// DecodeTensor reads a tensor from the wire.
func DecodeTensor(m TensorMsg) (*ir.Tensor, error) {
	if m.DType != "float32" {
		return nil, fmt.Errorf("tensor %q: dtype %q, expected float32", m.Name, m.DType)
	}
	raw, err := base64.StdEncoding.DecodeString(m.Data)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: bad base64 data: %v", m.Name, err)
	}
	n := 1
	for _, d := range m.Shape {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q: negative dimension in shape %v", m.Name, m.Shape)
		}
		n *= d
	}
	if len(raw) != 4*n {
		return nil, fmt.Errorf("tensor %q: shape %v needs %d bytes, got %d", m.Name, m.Shape, 4*n, len(raw))
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return ir.FromFloats(ir.Shape(append([]int{}, m.Shape...)), f), nil
}

// PeerSpec says how to start a peer process.
type PeerSpec struct {
	Name    string   // "onnxruntime", "pytorch", ...
	Command []string // program and arguments
	Env     []string // the whole environment (nil: this process's)
	Dir     string   // working directory ("" : this process's)
}

// Peer is a running peer process.
type Peer struct {
	Spec    PeerSpec
	Version string // from the load reply
	Inputs  []TensorMsg
	Outputs []TensorMsg

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	mu     sync.Mutex
	done   chan struct{}
	exit   error
}

// StartPeer starts the peer process. ctx ends it when cancelled.
func StartPeer(ctx context.Context, spec PeerSpec) (*Peer, error) {
	if len(spec.Command) == 0 {
		return nil, fmt.Errorf("peer %s: no command", spec.Name)
	}
	cmd := exec.CommandContext(ctx, spec.Command[0], spec.Command[1:]...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.WaitDelay = 2 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Peer{Spec: spec, cmd: cmd, stdin: in, stdout: bufio.NewReaderSize(out, 1<<20), stderr: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer %s: cannot start %q: %v", spec.Name, strings.Join(spec.Command, " "), err)
	}
	go func() {
		p.exit = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Call sends one request and reads its reply. A reply with ok=false
// becomes an error carrying the peer's message.
func (p *Peer) Call(req Request) (*Reply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	line = append(line, '\n')
	if _, err := p.stdin.Write(line); err != nil {
		return nil, p.died(req.Op, err)
	}
	resp, err := p.stdout.ReadBytes('\n')
	if err != nil {
		return nil, p.died(req.Op, err)
	}
	var r Reply
	if err := json.Unmarshal(bytes.TrimSpace(resp), &r); err != nil {
		return nil, fmt.Errorf("peer %s: %s: reply is not a JSON protocol line (%v): %.200q", p.Spec.Name, req.Op, err, resp)
	}
	if !r.OK {
		msg := r.Error
		if msg == "" {
			msg = "failed without a message"
		}
		return nil, fmt.Errorf("peer %s: %s: %s", p.Spec.Name, req.Op, msg)
	}
	return &r, nil
}

// died explains a broken pipe: the peer's exit status and last stderr lines.
func (p *Peer) died(op string, err error) error {
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	why := err.Error()
	if p.exit != nil {
		why = p.exit.Error()
	} else if errors.Is(err, io.EOF) {
		why = "it closed its output"
	}
	tail := strings.TrimSpace(p.stderr.String())
	if tail != "" {
		tail = "; its stderr ends with:\n" + indent(tail)
	}
	return fmt.Errorf("peer %s: %s: the peer process stopped (%s)%s", p.Spec.Name, op, why, tail)
}

// Load loads the model with the given thread count.
func (p *Peer) Load(model string, threads int) error {
	r, err := p.Call(Request{Op: "load", Model: model, Threads: threads})
	if err != nil {
		return err
	}
	p.Version, p.Inputs, p.Outputs = r.Version, r.Inputs, r.Outputs
	return nil
}

// SetInputs sends the inputs every later run uses.
func (p *Peer) SetInputs(names []string, inputs map[string]*ir.Tensor) error {
	req := Request{Op: "set_inputs"}
	for _, n := range names {
		m, err := EncodeTensor(n, inputs[n])
		if err != nil {
			return err
		}
		req.Inputs = append(req.Inputs, m)
	}
	_, err := p.Call(req)
	return err
}

// Run runs the model runs times and returns each run's latency in ms and,
// if asked, the outputs of the last run by name (and their order).
func (p *Peer) Run(runs int, wantOutputs bool) ([]float64, map[string]*ir.Tensor, []string, error) {
	r, err := p.Call(Request{Op: "run", Runs: runs, WantOutputs: wantOutputs})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(r.MS) != runs {
		return nil, nil, nil, fmt.Errorf("peer %s: run: asked for %d runs, got %d latencies", p.Spec.Name, runs, len(r.MS))
	}
	if !wantOutputs {
		return r.MS, nil, nil, nil
	}
	outs := map[string]*ir.Tensor{}
	var order []string
	for _, m := range r.Outputs {
		t, err := DecodeTensor(m)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("peer %s: run: %v", p.Spec.Name, err)
		}
		outs[m.Name] = t
		order = append(order, m.Name)
	}
	return r.MS, outs, order, nil
}

// Close asks the peer to quit and waits for it (killing it after 3 s).
func (p *Peer) Close() error {
	p.mu.Lock()
	line, _ := json.Marshal(Request{Op: "quit"})
	p.stdin.Write(append(line, '\n'))
	p.stdin.Close()
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Stderr returns the last few KiB the peer wrote to stderr.
func (p *Peer) Stderr() string { return p.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
