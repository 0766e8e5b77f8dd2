// Package native loads a model compiled by the CPU backend
// (backends/llvm) and runs it in this process: the shared object is
// opened with dlopen, wdc_init starts its thread pool, and Run copies the
// inputs into C memory, calls wdc_run and copies the outputs back.
package native

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef int (*wdc_init_fn)(void);
typedef int (*wdc_run_fn)(const void **, void **);
typedef int (*wdc_set_threads_fn)(int);
typedef void (*wdc_shutdown_fn)(void);

static int call_init(void *f) { return ((wdc_init_fn)f)(); }
static int call_run(void *f, void **in, void **out) { return ((wdc_run_fn)f)((const void **)in, out); }
static int call_set_threads(void *f, int n) { return ((wdc_set_threads_fn)f)(n); }
static void call_shutdown(void *f) { ((wdc_shutdown_fn)f)(); }
static void *open_lib(const char *path) { return dlopen(path, RTLD_NOW | RTLD_LOCAL); }
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sync"
	"unsafe"

	"wdc/ir"
	"wdc/ir/loop" // the compiled code's element storage sizes
)

// Tensor describes one input or output, as listed in manifest.json.
type Tensor struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Size  int    `json:"size"` // elements
	// Type is the element type (f32 when empty): f32, i8, u8, i16, u16,
	// i32 or i64.
	Type string `json:"type"`
	elem ir.Elem
}

// Manifest is the part of manifest.json the loader needs.
type Manifest struct {
	Name    string   `json:"name"`
	Library string   `json:"library"`
	Inputs  []Tensor `json:"inputs"`
	Outputs []Tensor `json:"outputs"`
	Threads int      `json:"threads"`
}

// Model is a loaded compiled model. Its methods are safe for concurrent
// use; runs are serialized (the compiled code has one static arena).
type Model struct {
	Manifest Manifest
	mu       sync.Mutex
	lib      unsafe.Pointer
	run      unsafe.Pointer
	setThr   unsafe.Pointer
	shutdown unsafe.Pointer
	in, out  []unsafe.Pointer // C buffers, one per input/output
	inArr    *unsafe.Pointer
	outArr   *unsafe.Pointer
}

// Load opens the compiled model in dir (the directory written by
// backends/llvm.Compile) and starts its threads.
func Load(dir string) (*Model, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a compiled model directory: %v", dir, err)
	}
	var man Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "manifest.json"), err)
	}
	if man.Library == "" || filepath.Base(man.Library) != man.Library {
		return nil, fmt.Errorf("%s: bad library name %q", filepath.Join(dir, "manifest.json"), man.Library)
	}
	path, err := filepath.Abs(filepath.Join(dir, man.Library))
	if err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	lib := C.open_lib(cpath)
	if lib == nil {
		return nil, fmt.Errorf("dlopen %s: %s", path, C.GoString(C.dlerror()))
	}
	for _, ts := range [][]Tensor{man.Inputs, man.Outputs} {
		for i := range ts {
			t := &ts[i]
			if t.Type == "" {
				t.Type = "f32"
			}
			e, err := ir.ParseElem(t.Type)
			if err != nil || (e.Kind != ir.F32 && e.Kind != ir.I8 && e.Kind != ir.U8 && e.Kind != ir.I16 && e.Kind != ir.U16 && e.Kind != ir.I32 && e.Kind != ir.I64) {
				C.dlclose(lib)
				return nil, fmt.Errorf("%s: tensor %q has element type %q (want f32, i8, u8, i16, u16, i32 or i64)", filepath.Join(dir, "manifest.json"), t.Name, t.Type)
			}
			t.elem = e
		}
	}
	m := &Model{Manifest: man, lib: lib}
	sym := func(name string) (unsafe.Pointer, error) {
		cs := C.CString(name)
		defer C.free(unsafe.Pointer(cs))
		p := C.dlsym(lib, cs)
		if p == nil {
			return nil, fmt.Errorf("%s: symbol %s not found", path, name)
		}
		return p, nil
	}
	initF, err := sym("wdc_init")
	if err == nil {
		m.run, err = sym("wdc_run")
	}
	if err == nil {
		m.setThr, err = sym("wdc_set_threads")
	}
	if err == nil {
		m.shutdown, err = sym("wdc_shutdown")
	}
	if err != nil {
		C.dlclose(lib)
		return nil, err
	}
	if rc := C.call_init(initF); rc != 0 {
		C.dlclose(lib)
		return nil, fmt.Errorf("%s: wdc_init returned %d", path, int(rc))
	}
	ptrSize := C.size_t(unsafe.Sizeof(unsafe.Pointer(nil)))
	m.inArr = (*unsafe.Pointer)(C.calloc(C.size_t(len(man.Inputs)+1), ptrSize))
	m.outArr = (*unsafe.Pointer)(C.calloc(C.size_t(len(man.Outputs)+1), ptrSize))
	inArr := unsafe.Slice(m.inArr, len(man.Inputs)+1)
	outArr := unsafe.Slice(m.outArr, len(man.Outputs)+1)
	for i, t := range man.Inputs {
		b := C.calloc(C.size_t(max(t.Size, 1)), C.size_t(loop.KindBytes(t.elem.Kind)))
		m.in = append(m.in, b)
		inArr[i] = b
	}
	for i, t := range man.Outputs {
		b := C.calloc(C.size_t(max(t.Size, 1)), C.size_t(loop.KindBytes(t.elem.Kind)))
		m.out = append(m.out, b)
		outArr[i] = b
	}
	return m, nil
}

// SetThreads sets the number of threads (n <= 0: all CPUs).
func (m *Model) SetThreads(n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lib == nil {
		return fmt.Errorf("model %s is closed", m.Manifest.Name)
	}
	if rc := C.call_set_threads(m.setThr, C.int(n)); rc != 0 {
		return fmt.Errorf("model %s: cannot start %d threads", m.Manifest.Name, n)
	}
	return nil
}

// Run runs the model on inputs (by name, of the compiled element types
// and shapes; integers are held in ir.Tensor.I) and returns every output
// by name.
func (m *Model) Run(inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	res := map[string]*ir.Tensor{}
	for _, t := range m.Manifest.Outputs {
		res[t.Name] = ir.NewTensor(t.elem, ir.Shape(t.Shape))
	}
	if err := m.RunInto(inputs, res); err != nil {
		return nil, err
	}
	return res, nil
}

// RunInto is Run writing into the caller's output tensors (one per model
// output, of its type and shape), e.g. reused across runs as a benchmark
// does. f32 tensors are handed to the compiled code in place (pinned, no
// copy); other element types go through C buffers. An output must not
// share its storage with an input.
func (m *Model) RunInto(inputs, outputs map[string]*ir.Tensor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lib == nil {
		return fmt.Errorf("model %s is closed", m.Manifest.Name)
	}
	for name := range inputs {
		known := false
		for _, t := range m.Manifest.Inputs {
			known = known || t.Name == name
		}
		if !known {
			return fmt.Errorf("%q is not an input of model %s", name, m.Manifest.Name)
		}
	}
	var pin goruntime.Pinner
	defer pin.Unpin()
	inArr := unsafe.Slice(m.inArr, len(m.Manifest.Inputs)+1)
	outArr := unsafe.Slice(m.outArr, len(m.Manifest.Outputs)+1)
	// The C pointer arrays point back at the C buffers once the call is
	// over: C memory must not keep Go pointers past the pin.
	defer func() {
		copy(inArr, m.in)
		copy(outArr, m.out)
	}()
	var inPtrs []*float32 // inputs handed over in place, which no output may share
	for i, t := range m.Manifest.Inputs {
		x, ok := inputs[t.Name]
		if !ok {
			return fmt.Errorf("input %q (%s%v) was not given", t.Name, t.Type, t.Shape)
		}
		if x.Elem.Kind != t.elem.Kind || !x.Shape.Equal(ir.Shape(t.Shape)) || x.Len() != t.Size {
			return fmt.Errorf("input %q must be %s%v, got %v", t.Name, t.Type, ir.Shape(t.Shape), x.Type)
		}
		switch {
		case t.Size == 0:
		case x.Elem.Kind == ir.F32 && len(x.F) >= t.Size:
			pin.Pin(&x.F[0])
			inArr[i] = unsafe.Pointer(&x.F[0])
			inPtrs = append(inPtrs, &x.F[0])
		default:
			toC(m.in[i], x, t.Size)
		}
	}
	var copyOut []int
	for i, t := range m.Manifest.Outputs {
		o, ok := outputs[t.Name]
		if !ok || o == nil {
			return fmt.Errorf("output %q (%s%v) has no tensor to write", t.Name, t.Type, t.Shape)
		}
		if o.Elem.Kind != t.elem.Kind || !o.Shape.Equal(ir.Shape(t.Shape)) || o.Len() != t.Size {
			return fmt.Errorf("output %q must be %s%v, got %v", t.Name, t.Type, ir.Shape(t.Shape), o.Type)
		}
		switch {
		case t.Size == 0:
		case o.Elem.Kind == ir.F32 && len(o.F) >= t.Size && !slices.Contains(inPtrs, &o.F[0]):
			pin.Pin(&o.F[0])
			outArr[i] = unsafe.Pointer(&o.F[0])
		default:
			copyOut = append(copyOut, i)
		}
	}
	if rc := C.call_run(m.run, (*unsafe.Pointer)(m.inArr), m.outArr); rc != 0 {
		return fmt.Errorf("model %s: wdc_run returned %d", m.Manifest.Name, int(rc))
	}
	for _, i := range copyOut {
		t := m.Manifest.Outputs[i]
		fromC(outputs[t.Name], m.out[i], t.Size)
	}
	return nil
}

// Close joins the model's threads, frees its buffers and unloads it.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lib == nil {
		return nil
	}
	C.call_shutdown(m.shutdown)
	for _, b := range append(m.in, m.out...) {
		C.free(b)
	}
	C.free(unsafe.Pointer(m.inArr))
	C.free(unsafe.Pointer(m.outArr))
	m.in, m.out = nil, nil
	rc := C.dlclose(m.lib)
	m.lib = nil
	if rc != 0 {
		return fmt.Errorf("dlclose: %s", C.GoString(C.dlerror()))
	}
	return nil
}

// toC copies x's n elements into C memory p in x's element type.
func toC(p unsafe.Pointer, x *ir.Tensor, n int) {
	switch x.Elem.Kind {
	case ir.F32:
		copy(unsafe.Slice((*float32)(p), n), x.F)
	case ir.I8:
		d := unsafe.Slice((*int8)(p), n)
		for i, v := range x.I[:n] {
			d[i] = int8(v)
		}
	case ir.U8:
		d := unsafe.Slice((*uint8)(p), n)
		for i, v := range x.I[:n] {
			d[i] = uint8(v)
		}
	case ir.I16:
		d := unsafe.Slice((*int16)(p), n)
		for i, v := range x.I[:n] {
			d[i] = int16(v)
		}
	case ir.U16:
		d := unsafe.Slice((*uint16)(p), n)
		for i, v := range x.I[:n] {
			d[i] = uint16(v)
		}
	case ir.I32:
		d := unsafe.Slice((*int32)(p), n)
		for i, v := range x.I[:n] {
			d[i] = int32(v)
		}
	case ir.I64:
		copy(unsafe.Slice((*int64)(p), n), x.I)
	}
}

// fromC copies n elements of C memory p into o (of o's element type).
func fromC(o *ir.Tensor, p unsafe.Pointer, n int) {
	switch o.Elem.Kind {
	case ir.F32:
		copy(o.F, unsafe.Slice((*float32)(p), n))
	case ir.I8:
		for i, v := range unsafe.Slice((*int8)(p), n) {
			o.I[i] = int64(v)
		}
	case ir.U8:
		for i, v := range unsafe.Slice((*uint8)(p), n) {
			o.I[i] = int64(v)
		}
	case ir.I16:
		for i, v := range unsafe.Slice((*int16)(p), n) {
			o.I[i] = int64(v)
		}
	case ir.U16:
		for i, v := range unsafe.Slice((*uint16)(p), n) {
			o.I[i] = int64(v)
		}
	case ir.I32:
		for i, v := range unsafe.Slice((*int32)(p), n) {
			o.I[i] = int64(v)
		}
	case ir.I64:
		copy(o.I, unsafe.Slice((*int64)(p), n))
	}
}
