package llvm

import (
	"fmt"
	"strings"
)

// runtimeC is the C runtime compiled with every model: the static arena
// and scratch, the weights (assembled in from weights.bin), and a small
// pthread pool that runs the outlined parallel loops. Each parallel loop
// of n iterations is cut into chunks of about n/(4T) iterations that the
// T threads take in turn (so a thread the OS preempts holds up little);
// iterations are independent, so the result does not depend on the thread
// count.
const runtimeC = `/* wdc CPU runtime for model %[1]s (generated; do not edit). */
#define _GNU_SOURCE /* sched_getaffinity, pthread_setaffinity_np */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WDC_ARENA_FLOATS %[2]d
#define WDC_SCRATCH_FLOATS %[3]d
#define WDC_DEFAULT_THREADS %[4]d

#define HIDDEN __attribute__((visibility("hidden")))
#define EXPORT __attribute__((visibility("default")))

HIDDEN float wdc_arena[WDC_ARENA_FLOATS] __attribute__((aligned(64)));
HIDDEN float wdc_scratch[WDC_SCRATCH_FLOATS] __attribute__((aligned(64)));

__asm__(".section .rodata\n"
        ".balign 64\n"
        ".globl wdc_weights\n"
        ".hidden wdc_weights\n"
        ".type wdc_weights, @object\n"
        "wdc_weights:\n"
        ".incbin \"weights.bin\"\n"
        ".size wdc_weights, .-wdc_weights\n"
        "wdc_weights_end:\n"
        ".text\n");

/* The kernels read the weights at wdc_wp: by default the embedded copy;
   wdc_init moves weights of 4 MiB or more into anonymous memory in 2 MiB
   pages (madvise; WDC_HUGEPAGES=0 keeps them in place). The weights of a
   large model stream from memory on every run, and with 4 KiB pages each
   page cost a TLB miss (a nested page walk in a VM): ResNet-18's 97 MB
   ran 1-4%% faster, its slowest runs 40%% faster. */
extern const char wdc_weights[], wdc_weights_end[];
HIDDEN const float *wdc_wp = (const float *)wdc_weights;
static void place_weights(void) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const size_t n = (size_t)(wdc_weights_end - wdc_weights), huge = (size_t)2 << 20;
  const char *e = getenv("WDC_HUGEPAGES");
  if (wdc_wp != (const float *)wdc_weights || n < 2 * huge || (e && *e == '0')) return;
  size_t sz = (n + huge - 1) / huge * huge;
  void *p = aligned_alloc(huge, sz);
  if (!p) return;
  madvise(p, sz, MADV_HUGEPAGE);
  memcpy(p, wdc_weights, n);
  wdc_wp = p; /* for the life of the process: wdc_init may run again */
#endif
}

typedef void (*wdc_body)(void *ctx, int64_t lo, int64_t hi);

#define WDC_MAX_THREADS 256
#define SPIN_ROUNDS 20000 /* pause loops (tens of microseconds) before a worker sleeps */

/* The pool: a run publishes a job by bumping generation; workers spin on
   it for a while, then sleep on start_cv (sleepers counts them, so a
   dispatch takes the mutex only to wake sleepers). Chunks are claimed
   from ticket = (job generation << 32 | next iteration) by compare-and-
   swap, so a worker that wakes late (the OS may not run it at all on a
   busy machine) can only claim chunks of the job it saw published; the
   caller claims chunks too and waits only until every iteration is done,
   never for a worker that claimed nothing. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static pthread_t *workers;
static int nthreads = 1;      /* threads taking part, the caller included */
static int running;           /* workers started */
static _Atomic int stop;
static _Atomic long generation;
static int sleepers;
static wdc_body job_fn;
static void *job_ctx;
static int64_t job_n, job_grain;
static _Atomic uint64_t ticket;
static _Atomic int64_t job_done;
/* wdc_tid is the pool index of the running thread (0: the caller). */
static __thread int wdc_tid;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* run_chunks takes chunks of job_grain iterations of job gen until none
   is left: a thread that the OS preempts (the machine may be shared)
   leaves the rest to the others instead of holding up the whole loop. */
static void run_chunks(uint32_t gen) {
  wdc_body fn = job_fn;
  void *ctx = job_ctx;
  int64_t n = job_n, grain = job_grain;
  for (;;) {
    uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
    int64_t lo = (int64_t)(t & 0xffffffffu);
    if ((uint32_t)(t >> 32) != gen || lo >= n) return;
    if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + (uint64_t)grain, memory_order_acq_rel, memory_order_relaxed))
      continue;
    int64_t hi = lo + grain < n ? lo + grain : n;
    fn(ctx, lo, hi);
    atomic_fetch_add_explicit(&job_done, hi - lo, memory_order_release);
  }
}

/* Affinity, when the process may use at least as many CPUs as threads
   and WDC_AFFINITY is not 0: worker i runs on CPU pin_cpu[i], and a run
   that uses the pool keeps its calling thread on the CPU it was on when
   the first parallel loop started (pin_cpu[0]; a worker there swaps CPUs
   with it) until wdc_run returns, when the caller's own mask is
   restored; onnxruntime pins its pool too. Left to the kernel, a worker and
   the caller often shared one CPU here (a 2-vCPU VM packs threads):
   ResNet-18 on 2 threads ran 14.8 ms instead of 9.7, or the worker saw
   a quarter of the short loops. */
static int pin_cpu[WDC_MAX_THREADS], pin_on, caller_pinned;
#if defined(__linux__)
static cpu_set_t caller_mask;
#endif
static void plan_affinity(int n) {
  pin_on = 0;
#if defined(__linux__)
  const char *e = getenv("WDC_AFFINITY");
  if (e && *e == '0') return;
  cpu_set_t cs;
  if (sched_getaffinity(0, sizeof cs, &cs) != 0) return;
  int k = 0;
  for (int c = 0; c < CPU_SETSIZE && k < n; c++)
    if (CPU_ISSET(c, &cs)) pin_cpu[k++] = c;
  pin_on = k == n;
#endif
}
static void pin_thread(pthread_t t, int cpu) {
#if defined(__linux__)
  cpu_set_t cs;
  CPU_ZERO(&cs);
  CPU_SET(cpu, &cs);
  pthread_setaffinity_np(t, sizeof cs, &cs); /* best effort */
#endif
}
static void pin_caller(void) {
#if defined(__linux__)
  int c = sched_getcpu();
  if (c < 0 || pthread_getaffinity_np(pthread_self(), sizeof caller_mask, &caller_mask) != 0) return;
  for (int i = 1; i < nthreads; i++)
    if (pin_cpu[i] == c) { pin_cpu[i] = pin_cpu[0]; pin_cpu[0] = c; pin_thread(workers[i], pin_cpu[i]); }
  pin_thread(pthread_self(), c);
  caller_pinned = 1;
#endif
}
HIDDEN void wdc_run_done(void) {
#if defined(__linux__)
  if (caller_pinned) pthread_setaffinity_np(pthread_self(), sizeof caller_mask, &caller_mask);
#endif
  caller_pinned = 0;
}

static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg;
  wdc_tid = id;
#if defined(__linux__)
  if (pin_on) pin_thread(pthread_self(), pin_cpu[id]);
#endif
  long seen = 0;
  for (;;) {
    long g;
    int spins = 0;
    while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
      /* yield now and then: on a machine with fewer free cores than
         threads, a spinning worker would take the core from the thread
         that has the work */
      if (++spins < SPIN_ROUNDS) { if ((spins & 255) == 0) sched_yield(); else cpu_relax(); continue; }
      pthread_mutex_lock(&mu);
      sleepers++;
      while (atomic_load(&generation) == seen) pthread_cond_wait(&start_cv, &mu);
      sleepers--;
      pthread_mutex_unlock(&mu);
      spins = 0;
    }
    seen = g;
    if (atomic_load(&stop)) return NULL;
    run_chunks((uint32_t)g);
  }
}

static void publish(void) {
  atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  pthread_mutex_lock(&mu);
  if (sleepers) pthread_cond_broadcast(&start_cv);
  pthread_mutex_unlock(&mu);
}

HIDDEN void wdc_parallel_for(wdc_body fn, void *ctx, int64_t n) {
  if (nthreads <= 1 || n < 2 || n >= ((int64_t)1 << 31)) { fn(ctx, 0, n); return; }
  if (pin_on && !caller_pinned) pin_caller();
  uint32_t gen = (uint32_t)(atomic_load_explicit(&generation, memory_order_relaxed) + 1);
  /* first retire the previous ticket, so that a late worker cannot claim
     with the fields being rewritten */
  atomic_store_explicit(&ticket, (uint64_t)gen << 32 | 0xffffffffu, memory_order_release);
  job_fn = fn; job_ctx = ctx; job_n = n;
  job_grain = n / (4 * nthreads) > 1 ? n / (4 * nthreads) : 1;
  atomic_store_explicit(&job_done, 0, memory_order_relaxed);
  atomic_store_explicit(&ticket, (uint64_t)gen << 32, memory_order_release);
  publish();
  run_chunks(gen);
  int spins = 0;
  while (atomic_load_explicit(&job_done, memory_order_acquire) < n)
    if ((++spins & 255) == 0) sched_yield(); else cpu_relax();
}

%[5]s
/* ---- per-kernel profile (WDC_PROFILE=1 in the environment) ----
   wdc_run calls wdc_prof(k) after kernel k (and wdc_prof(-1) before the
   first); with profiling on, each kernel's wall time is summed (the
   monotonic clock, read without a system call: a thread-CPU clock is a
   system call, which on this kind of VM flushes the TLB and slowed the
   kernels being timed), and wdc_shutdown prints the sums to stderr,
   largest first. Off, wdc_prof is one load and a branch. */
#include <stdio.h>
#include <time.h>
#define WDC_NKERNELS %[6]d
static const char *const wdc_kernel_names[WDC_NKERNELS + 1] = { %[7]s };
static int prof_on;
static long prof_runs;
static double prof_wall[WDC_NKERNELS + 1];
static struct timespec prof_w0;
static double ts_diff(struct timespec a, struct timespec b) {
  return (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
}
HIDDEN void wdc_prof(int32_t k) {
  if (!prof_on) return;
  struct timespec w;
  clock_gettime(CLOCK_MONOTONIC, &w);
  if (k < 0) prof_runs++;
  else if (k < WDC_NKERNELS) prof_wall[k] += ts_diff(prof_w0, w);
  prof_w0 = w;
}
static void prof_report(void) {
  if (!prof_on || prof_runs == 0) return;
  int order[WDC_NKERNELS + 1];
  double tw = 0;
  for (int i = 0; i < WDC_NKERNELS; i++) { order[i] = i; tw += prof_wall[i]; }
  for (int i = 1; i < WDC_NKERNELS; i++)
    for (int j = i; j > 0 && prof_wall[order[j]] > prof_wall[order[j - 1]]; j--) {
      int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
    }
  fprintf(stderr, "wdc profile: model %%s, %%ld runs, %%d threads; per run: wall %%.1f us\n",
          %[8]s, prof_runs, nthreads, tw / prof_runs / 1e3);
  fprintf(stderr, "%%10s %%7s  %%s\n", "wall us", "wall %%", "kernel");
  for (int i = 0; i < WDC_NKERNELS; i++) {
    int k = order[i];
    fprintf(stderr, "%%10.1f %%6.1f%%%%  %%s\n", prof_wall[k] / prof_runs / 1e3,
            tw > 0 ? 100 * prof_wall[k] / tw : 0.0, wdc_kernel_names[k]);
  }
  prof_runs = 0;
  for (int i = 0; i < WDC_NKERNELS; i++) prof_wall[i] = 0;
}

/* wdc_shutdown joins the worker threads; wdc_init or wdc_set_threads
   starts them again. */
EXPORT void wdc_shutdown(void) {
  prof_report();
  free_buffers();
  if (!running) return;
  atomic_store(&stop, 1);
  publish();
  for (int i = 1; i < nthreads; i++) pthread_join(workers[i], NULL);
  free(workers);
  workers = NULL;
  running = 0;
  stop = 0;
  nthreads = 1;
}

/* wdc_set_threads runs the model on n threads (n <= 0: all online CPUs).
   Returns 0, or -1 when a thread cannot be started. */
EXPORT int wdc_set_threads(int n) {
  wdc_shutdown();
  if (n <= 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (int)c : 1;
  }
  if (n > WDC_MAX_THREADS) n = WDC_MAX_THREADS;
  plan_affinity(n);
  if (n == 1) return ensure_buffers(1) == 1 ? 0 : -1;
  workers = calloc((size_t)n, sizeof(pthread_t));
  if (!workers) return -1;
  generation = 0;
  for (int i = 1; i < n; i++) {
    if (pthread_create(&workers[i], NULL, worker_main, (void *)(intptr_t)i) != 0) {
      nthreads = i;
      running = 1;
      wdc_shutdown();
      return -1;
    }
  }
  nthreads = n;
  running = 1;
  return ensure_buffers(n) == n ? 0 : -1;
}

/* wdc_threads is the number of threads a run uses. */
EXPORT int wdc_threads(void) { return nthreads; }

/* wdc_init starts the thread pool (WDC_THREADS in the environment
   overrides the compiled default). Returns 0 on success. */
EXPORT int wdc_init(void) {
  place_weights();
  int n = WDC_DEFAULT_THREADS;
  const char *env = getenv("WDC_THREADS");
  if (env && *env) n = atoi(env);
  const char *pe = getenv("WDC_PROFILE");
  prof_on = pe && *pe && *pe != '0';
  return wdc_set_threads(n);
}
`

// RuntimeC is the C runtime source for this program.
func (p *Program) RuntimeC() string {
	names := make([]string, 0, len(p.Artifact.Kernels)+1)
	for _, k := range p.Artifact.Kernels {
		names = append(names, cString(k))
	}
	names = append(names, "0")
	return fmt.Sprintf(runtimeC, p.Artifact.Name, max(p.arena, 16), max(p.scratch, 16), p.threads, gemmDefines(p.ukr)+gemmC, len(p.Artifact.Kernels), strings.Join(names, ", "), cString(p.Artifact.Name))
}

// Header is the C header of the compiled model.
func (p *Program) Header() string {
	var b strings.Builder
	guard := "WDC_MODEL_H"
	fmt.Fprintf(&b, "/* wdc compiled model %q (generated; do not edit). */\n#ifndef %s\n#define %s\n\n", p.Artifact.Name, guard, guard)
	fmt.Fprintf(&b, "#define WDC_NUM_INPUTS %d\n#define WDC_NUM_OUTPUTS %d\n", len(p.Artifact.Inputs), len(p.Artifact.Outputs))
	b.WriteString("/* Element types of WDC_INPUTi_TYPE / WDC_OUTPUTj_TYPE (C types: float, int8_t,\n   uint8_t, int16_t, uint16_t, int32_t, int64_t); sizes are in elements. */\n")
	b.WriteString("#define WDC_F32 0\n#define WDC_I8 1\n#define WDC_U8 2\n#define WDC_I16 3\n#define WDC_U16 4\n#define WDC_I32 5\n#define WDC_I64 6\n")
	for i, t := range p.Artifact.Inputs {
		fmt.Fprintf(&b, "#define WDC_INPUT%d_SIZE %d /* %q %s%v */\n", i, t.Size, t.Name, t.Type, shapeString(t.Shape))
		fmt.Fprintf(&b, "#define WDC_INPUT%d_TYPE WDC_%s\n", i, strings.ToUpper(t.Type))
	}
	for i, t := range p.Artifact.Outputs {
		fmt.Fprintf(&b, "#define WDC_OUTPUT%d_SIZE %d /* %q %s%v */\n", i, t.Size, t.Name, t.Type, shapeString(t.Shape))
		fmt.Fprintf(&b, "#define WDC_OUTPUT%d_TYPE WDC_%s\n", i, strings.ToUpper(t.Type))
	}
	fmt.Fprintf(&b, "#define WDC_ARENA_BYTES %d\n#define WDC_WEIGHTS_BYTES %d\n\n", p.Artifact.Arena, p.Artifact.Weights)
	b.WriteString(`#ifdef __cplusplus
extern "C" {
#endif
/* Start the thread pool; 0 on success. Call once before wdc_run. */
int wdc_init(void);
/* Run the model: inputs[i] holds WDC_INPUTi_SIZE elements of type
   WDC_INPUTi_TYPE, outputs[j] has room for WDC_OUTPUTj_SIZE elements of
   type WDC_OUTPUTj_TYPE (row-major). 0 on success.
   Not reentrant: one run at a time per loaded model. */
int wdc_run(const void **inputs, void **outputs);
/* Use n threads (n <= 0: all CPUs); 0 on success. */
int wdc_set_threads(int n);
int wdc_threads(void);
/* Join the threads (wdc_init starts them again). */
void wdc_shutdown(void);
#ifdef __cplusplus
}
#endif
#endif
`)
	return b.String()
}

// cString quotes s as a C string literal (bytes outside printable ASCII,
// quotes and backslashes as octal escapes).
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '?' || c == '%' {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
