package cuda

import (
	"fmt"
	"strings"

	"wdc/ir"
	"wdc/ir/loop"
)

const (
	gridThreads   = 256  // threads per block of a grid-mode kernel
	singleThreads = 1024 // threads of the single block in single-kernel mode
	maxGridBlocks = 8192 // grid-stride loops cover the rest
)

// argExpr is the host-side (or, in single-kernel mode, device-side)
// pointer expression of a kernel argument.
func (p *Program) argExpr(v *ir.Value, in, out, w, arena string) string {
	s := p.where[p.root(v)]
	switch s.kind {
	case stInput:
		return fmt.Sprintf("%s%d", in, s.idx)
	case stOutput:
		return fmt.Sprintf("%s%d", out, s.idx)
	case stConst:
		return fmt.Sprintf("%s + %d", w, s.off)
	default:
		return fmt.Sprintf("%s + %d", arena, s.off)
	}
}

func tempOffsets(f *loop.Func) []int64 {
	var offs []int64
	off := int64(0)
	for _, t := range f.Temps {
		offs = append(offs, off)
		off += int64(t.Size()+63) / 64 * 64
	}
	return offs
}

func (k *kernel) comment() string {
	return "// " + k.name + ": " + strings.Join(k.layers, ", ")
}

// Source renders model.cu.
func (p *Program) Source() (src string, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = "", fmt.Errorf("CUDA backend: rendering model %q: %v", p.Artifact.Name, r)
		}
	}()
	var b strings.Builder
	a := p.Artifact
	fmt.Fprintf(&b, "// wdc CUDA backend: model %q\n", a.Name)
	fmt.Fprintf(&b, "// %d kernel group(s)", len(p.kernels))
	if p.single {
		b.WriteString(", all in ONE kernel (wdc_net) of one block")
	}
	b.WriteString(".\n// Build: see Makefile (nvcc), or g++ -DWDC_EMULATE -x c++ for the CPU emulation.\n")
	b.WriteString("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"wdc_cuda.h\"\n#include \"model.h\"\n\n")
	r := &renderer{idx: p.idx}
	var launches []string
	if p.single {
		p.singleKernel(&b, r)
		ins := make([]string, 0)
		for i := range a.Inputs {
			ins = append(ins, fmt.Sprintf("in[%d]", i))
		}
		for j := range a.Outputs {
			ins = append(ins, fmt.Sprintf("out[%d]", j))
		}
		ins = append(ins, "wdc_dw", "wdc_da", "wdc_ds")
		launches = append(launches, fmt.Sprintf("WDC_LAUNCH(wdc_net, dim3(1), dim3(%d), %s);", singleThreads, strings.Join(ins, ", ")))
	} else {
		for _, k := range p.kernels {
			launches = append(launches, p.gridKernel(&b, r, k)...)
		}
	}
	a.Launches = len(launches)
	p.host(&b, launches)
	return b.String(), nil
}

// params renders a kernel's parameter list (grid mode).
func params(f *loop.Func) string {
	var ps []string
	nIn := len(f.Params) - 1
	for i, pb := range f.Params {
		if i < nIn {
			ps = append(ps, "const float* __restrict__ "+pb.Name)
		} else {
			ps = append(ps, "float* __restrict__ "+pb.Name)
		}
	}
	for _, t := range f.Temps {
		ps = append(ps, "float* __restrict__ "+t.Name)
	}
	return strings.Join(ps, ", ")
}

// gridKernel renders the kernels of one group and returns their launches.
func (p *Program) gridKernel(b *strings.Builder, r *renderer, k *kernel) []string {
	var args []string
	for _, v := range k.args {
		args = append(args, p.argExpr(v, "in[", "out[", "wdc_dw", "wdc_da"))
	}
	for i := range args {
		if strings.HasPrefix(args[i], "in[") || strings.HasPrefix(args[i], "out[") {
			args[i] += "]"
		}
	}
	for _, off := range tempOffsets(k.f) {
		args = append(args, fmt.Sprintf("wdc_ds + %d", off))
	}
	b.WriteString(k.comment() + "\n")
	if k.gemm != nil {
		fmt.Fprintf(b, "__global__ void __launch_bounds__(%d) %s(%s) {\n", gemmThreads, k.name, params(k.f))
		r.renderGEMM(b, k.gemm)
		b.WriteString("}\n\n")
		g := k.gemm.grid()
		return []string{fmt.Sprintf("WDC_LAUNCH(%s, dim3(%d, %d, %d), dim3(%d), %s);", k.name, g[0], g[1], g[2], gemmThreads, strings.Join(args, ", "))}
	}
	var launches []string
	sts := stages(k.f)
	for si, st := range sts {
		name := k.name
		if len(sts) > 1 {
			name = fmt.Sprintf("%s_s%d", k.name, si)
			fmt.Fprintf(b, "// stage %d of %d\n", si+1, len(sts))
		}
		if st.Total == 0 {
			continue
		}
		fmt.Fprintf(b, "__global__ void __launch_bounds__(%d) %s(%s) {\n", gridThreads, name, params(k.f))
		fmt.Fprintf(b, "  // %d independent iterations over (%s)\n", st.Total, strings.Join(st.Vars, ", "))
		b.WriteString("  WDC_THREADS {\n")
		fmt.Fprintf(b, "    for (%s wdc_t = (%s)blockIdx.x * %d + (%s)threadIdx.x; wdc_t < %d; wdc_t += (%s)gridDim.x * %d) {\n", r.idx, r.idx, gridThreads, r.idx, st.Total, r.idx, gridThreads)
		r.stageBody(b, st, "wdc_t", "      ")
		b.WriteString("    }\n  }\n}\n\n")
		blocks := min(ceilDiv(st.Total, gridThreads), maxGridBlocks)
		launches = append(launches, fmt.Sprintf("WDC_LAUNCH(%s, dim3(%d), dim3(%d), %s);", name, blocks, gridThreads, strings.Join(args, ", ")))
	}
	return launches
}

// singleKernel renders every group as a phase of one kernel of one block.
func (p *Program) singleKernel(b *strings.Builder, r *renderer) {
	a := p.Artifact
	var ps []string
	for i := range a.Inputs {
		ps = append(ps, fmt.Sprintf("const float* __restrict__ wdc_in%d", i))
	}
	for j := range a.Outputs {
		ps = append(ps, fmt.Sprintf("float* wdc_out%d", j))
	}
	ps = append(ps, "const float* __restrict__ wdc_w", "float* wdc_a", "float* wdc_s")
	fmt.Fprintf(b, "// The whole network in one kernel: one block of %d threads runs the\n// layers in order; __syncthreads() separates them.\n", singleThreads)
	fmt.Fprintf(b, "__global__ void __launch_bounds__(%d) wdc_net(%s) {\n", singleThreads, strings.Join(ps, ", "))
	first := true
	for _, k := range p.kernels {
		for si, st := range stages(k.f) {
			if st.Total == 0 {
				continue
			}
			if !first {
				b.WriteString("  __syncthreads();\n")
			}
			first = false
			b.WriteString("  " + k.comment())
			if len(stages(k.f)) > 1 {
				fmt.Fprintf(b, " (stage %d)", si+1)
			}
			b.WriteString("\n  {\n")
			nIn := len(k.f.Params) - 1
			for i, pb := range k.f.Params {
				e := p.argExpr(k.args[i], "wdc_in", "wdc_out", "wdc_w", "wdc_a")
				if i < nIn {
					fmt.Fprintf(b, "    const float* const %s = %s;\n", pb.Name, e)
				} else {
					fmt.Fprintf(b, "    float* const %s = %s;\n", pb.Name, e)
				}
			}
			offs := tempOffsets(k.f)
			for i, t := range k.f.Temps {
				fmt.Fprintf(b, "    float* const %s = wdc_s + %d;\n", t.Name, offs[i])
			}
			b.WriteString("    WDC_THREADS {\n")
			fmt.Fprintf(b, "      for (%s wdc_t = (%s)threadIdx.x; wdc_t < %d; wdc_t += %d) {\n", r.idx, r.idx, st.Total, singleThreads)
			r.stageBody(b, st, "wdc_t", "        ")
			b.WriteString("      }\n    }\n  }\n")
		}
	}
	b.WriteString("}\n\n")
}

// profNames lists the kernel of each launch as C strings.
func profNames(launches []string) string {
	var s []string
	for _, l := range launches {
		name := strings.TrimPrefix(l, "WDC_LAUNCH(")
		if i := strings.Index(name, ","); i >= 0 {
			name = name[:i]
		}
		s = append(s, fmt.Sprintf("%q", name))
	}
	if len(s) == 0 {
		return "0"
	}
	return strings.Join(s, ", ")
}

// host renders the C ABI.
func (p *Program) host(b *strings.Builder, launches []string) {
	a := p.Artifact
	fmt.Fprintf(b, "#define WDC_NUM_LAUNCHES %d\n", max(len(launches), 1))
	fmt.Fprintf(b, `// ---- host code: the C ABI of model.h ----
#define WDC_CHECK(x) do { cudaError_t wdc_e = (x); if (wdc_e != cudaSuccess) { \
  fprintf(stderr, "wdc: %%s failed: %%s (%%s:%%d)\n", #x, cudaGetErrorString(wdc_e), __FILE__, __LINE__); return 1; } } while (0)

static float *wdc_dw, *wdc_da, *wdc_ds;
static float *wdc_din[%d], *wdc_dout[%d];
#define wdc_in_size wdc_input_sizes
#define wdc_out_size wdc_output_sizes
static int wdc_ready;

/* WDC_PROFILE=1: time every launch with CUDA events; wdc_free prints the
   mean per launch (to stderr). */
static int wdc_prof_on, wdc_prof_runs;
static cudaEvent_t wdc_prof_ev[WDC_NUM_LAUNCHES + 1];
static float wdc_prof_ms[WDC_NUM_LAUNCHES];
static const char *const wdc_prof_name[WDC_NUM_LAUNCHES] = {%s};

int wdc_init(const char *weights_path) {
  if (wdc_ready) return 0;
  if (!weights_path) weights_path = getenv("WDC_WEIGHTS");
  if (!weights_path) weights_path = "weights.bin";
  FILE *f = fopen(weights_path, "rb");
  if (!f) { fprintf(stderr, "wdc: cannot open %%s\n", weights_path); return 1; }
  char *host = (char *)malloc(WDC_WEIGHTS_BYTES);
  size_t got = host ? fread(host, 1, WDC_WEIGHTS_BYTES, f) : 0;
  fclose(f);
  if (got != (size_t)WDC_WEIGHTS_BYTES) { fprintf(stderr, "wdc: %%s: want %%lld bytes, read %%zu\n", weights_path, (long long)WDC_WEIGHTS_BYTES, got); free(host); return 1; }
  WDC_CHECK(cudaMalloc((void **)&wdc_dw, WDC_WEIGHTS_BYTES));
  WDC_CHECK(cudaMemcpy(wdc_dw, host, WDC_WEIGHTS_BYTES, cudaMemcpyHostToDevice));
  free(host);
  WDC_CHECK(cudaMalloc((void **)&wdc_da, %d));
  WDC_CHECK(cudaMalloc((void **)&wdc_ds, %d));
  for (int i = 0; i < WDC_NUM_INPUTS; i++) WDC_CHECK(cudaMalloc((void **)&wdc_din[i], 4 * wdc_in_size[i] + 4));
  for (int i = 0; i < WDC_NUM_OUTPUTS; i++) WDC_CHECK(cudaMalloc((void **)&wdc_dout[i], 4 * wdc_out_size[i] + 4));
  if (getenv("WDC_PROFILE") && atoi(getenv("WDC_PROFILE")) > 0) {
    wdc_prof_on = 1;
    for (int i = 0; i <= WDC_NUM_LAUNCHES; i++) WDC_CHECK(cudaEventCreate(&wdc_prof_ev[i]));
  }
  wdc_ready = 1;
  return 0;
}

int wdc_run_device(const float *const *in, float *const *out) {
  if (!wdc_ready) { fprintf(stderr, "wdc: wdc_run before wdc_init\n"); return 1; }
`, max(len(a.Inputs), 1), max(len(a.Outputs), 1), profNames(launches), max(4*p.arena, 4), max(4*p.scratch, 4))
	b.WriteString("  (void)in; (void)out;\n")
	b.WriteString("  if (wdc_prof_on) WDC_CHECK(cudaEventRecord(wdc_prof_ev[0]));\n")
	for i, l := range launches {
		b.WriteString("  " + l + "\n")
		fmt.Fprintf(b, "  if (wdc_prof_on) WDC_CHECK(cudaEventRecord(wdc_prof_ev[%d]));\n", i+1)
	}
	b.WriteString(`  WDC_CHECK(cudaGetLastError());
  if (wdc_prof_on) {
    WDC_CHECK(cudaEventSynchronize(wdc_prof_ev[WDC_NUM_LAUNCHES]));
    for (int i = 0; i < WDC_NUM_LAUNCHES; i++) {
      float ms = 0;
      WDC_CHECK(cudaEventElapsedTime(&ms, wdc_prof_ev[i], wdc_prof_ev[i + 1]));
      wdc_prof_ms[i] += ms;
    }
    wdc_prof_runs++;
  }
  return 0;
}

int wdc_run(const float *const *inputs, float *const *outputs) {
  if (!wdc_ready) { fprintf(stderr, "wdc: wdc_run before wdc_init\n"); return 1; }
  for (int i = 0; i < WDC_NUM_INPUTS; i++)
    WDC_CHECK(cudaMemcpy(wdc_din[i], inputs[i], 4 * wdc_in_size[i], cudaMemcpyHostToDevice));
  if (wdc_run_device(wdc_din, wdc_dout)) return 1;
  for (int i = 0; i < WDC_NUM_OUTPUTS; i++)
    WDC_CHECK(cudaMemcpy(outputs[i], wdc_dout[i], 4 * wdc_out_size[i], cudaMemcpyDeviceToHost));
  WDC_CHECK(cudaDeviceSynchronize());
  return 0;
}

void wdc_free(void) {
  if (!wdc_ready) return;
  if (wdc_prof_on && wdc_prof_runs > 0) {
    float total = 0;
    for (int i = 0; i < WDC_NUM_LAUNCHES; i++) total += wdc_prof_ms[i];
    fprintf(stderr, "wdc profile: %d runs, mean %.4f ms per run\n", wdc_prof_runs, total / wdc_prof_runs);
    for (int i = 0; i < WDC_NUM_LAUNCHES; i++)
      fprintf(stderr, "wdc profile: %8.4f ms %5.1f%%  %s\n", wdc_prof_ms[i] / wdc_prof_runs, total > 0 ? 100 * wdc_prof_ms[i] / total : 0.0, wdc_prof_name[i]);
  }
  if (wdc_prof_on) for (int i = 0; i <= WDC_NUM_LAUNCHES; i++) cudaEventDestroy(wdc_prof_ev[i]);
  cudaFree(wdc_dw); cudaFree(wdc_da); cudaFree(wdc_ds);
  for (int i = 0; i < WDC_NUM_INPUTS; i++) cudaFree(wdc_din[i]);
  for (int i = 0; i < WDC_NUM_OUTPUTS; i++) cudaFree(wdc_dout[i]);
  wdc_ready = 0;
}
`)
}

func sizes(ts []TensorInfo) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprint(t.Size))
	}
	if len(s) == 0 {
		return "0"
	}
	return strings.Join(s, ", ")
}

func npyShape(shape []int) string {
	if len(shape) == 1 {
		return fmt.Sprintf("(%d,)", shape[0])
	}
	var s []string
	for _, d := range shape {
		s = append(s, fmt.Sprint(d))
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// Header renders model.h.
func (p *Program) Header() string {
	a := p.Artifact
	var b strings.Builder
	fmt.Fprintf(&b, "/* wdc CUDA backend: model %q. */\n#ifndef WDC_MODEL_H\n#define WDC_MODEL_H\n\n", a.Name)
	fmt.Fprintf(&b, "#define WDC_NUM_INPUTS %d\n", len(a.Inputs))
	for i, t := range a.Inputs {
		fmt.Fprintf(&b, "#define WDC_INPUT%d_SIZE %d /* %q f32%v */\n", i, t.Size, t.Name, t.Shape)
	}
	fmt.Fprintf(&b, "#define WDC_NUM_OUTPUTS %d\n", len(a.Outputs))
	for j, t := range a.Outputs {
		fmt.Fprintf(&b, "#define WDC_OUTPUT%d_SIZE %d /* %q f32%v */\n", j, t.Size, t.Name, t.Shape)
	}
	fmt.Fprintf(&b, "#define WDC_WEIGHTS_BYTES %dLL\n\n", len(p.Weights))
	var in, out, ins, outs []string
	for _, t := range a.Inputs {
		in = append(in, fmt.Sprintf("%q", t.Name))
		ins = append(ins, fmt.Sprintf("%q", npyShape(t.Shape)))
	}
	for _, t := range a.Outputs {
		out = append(out, fmt.Sprintf("%q", t.Name))
		outs = append(outs, fmt.Sprintf("%q", npyShape(t.Shape)))
	}
	fmt.Fprintf(&b, "static const long long wdc_input_sizes[] = {%s, 0};\n", sizes(a.Inputs))
	fmt.Fprintf(&b, "static const long long wdc_output_sizes[] = {%s, 0};\n", sizes(a.Outputs))
	fmt.Fprintf(&b, "static const char *const wdc_input_names[] = {%s};\n", strings.Join(append(in, "0"), ", "))
	fmt.Fprintf(&b, "static const char *const wdc_input_shapes[] = {%s}; /* numpy shape tuples */\n", strings.Join(append(ins, "0"), ", "))
	fmt.Fprintf(&b, "static const char *const wdc_output_names[] = {%s};\n", strings.Join(append(out, "0"), ", "))
	fmt.Fprintf(&b, "static const char *const wdc_output_shapes[] = {%s};\n", strings.Join(append(outs, "0"), ", "))
	b.WriteString(`
#ifdef __cplusplus
extern "C" {
#endif
/* Load weights.bin (NULL: $WDC_WEIGHTS, else ./weights.bin) to the GPU and
   allocate the activation arena; 0 on success. */
int wdc_init(const char *weights_path);
/* Run on host buffers (inputs and outputs in the order above): copies in,
   runs, copies out, synchronizes. 0 on success. One run at a time. */
int wdc_run(const float *const *inputs, float *const *outputs);
/* Run on device buffers; asynchronous (default stream), no copies. */
int wdc_run_device(const float *const *d_inputs, float *const *d_outputs);
/* Release the GPU memory. */
void wdc_free(void);
#ifdef __cplusplus
}
#endif
#endif
`)
	return b.String()
}

// Makefile renders the build script.
func (p *Program) Makefile() string {
	var gens []string
	for _, a := range p.archs {
		n := strings.TrimPrefix(a, "sm_")
		gens = append(gens, fmt.Sprintf("-gencode arch=compute_%s,code=sm_%s", n, n))
	}
	return fmt.Sprintf(`# Generated by wdc (CUDA backend) for model %q.
#   make             run_model (driver) and libmodel.so with nvcc
#   make ARCH=-arch=sm_90  one architecture only
#   make emulate     run_model_emu: the same sources as C++ on the CPU (g++)
NVCC    ?= nvcc
CXX     ?= g++
ARCH    ?= %s
NVFLAGS ?= -O3 -std=c++17 -lineinfo
all: run_model libmodel.so
run_model: model.cu driver.cu model.h wdc_cuda.h
	$(NVCC) $(NVFLAGS) $(ARCH) -o $@ model.cu driver.cu
libmodel.so: model.cu model.h wdc_cuda.h
	$(NVCC) $(NVFLAGS) $(ARCH) -Xcompiler -fPIC -shared -o $@ model.cu
emulate: run_model_emu
run_model_emu: model.cu driver.cu model.h wdc_cuda.h
	$(CXX) -O2 -std=c++17 -DWDC_EMULATE -x c++ model.cu -x c++ driver.cu -o $@ -lm
clean:
	rm -f run_model libmodel.so run_model_emu
.PHONY: all emulate clean
`, p.Artifact.Name, strings.Join(gens, " "))
}
