#!/usr/bin/env bash
# wdc GPU check: build every case of this bundle with nvcc, run it, compare
# with the golden outputs (computed by wdc's reference interpreter when the
# bundle was prepared), and time it against PyTorch eager on the same
# weights and inputs. Needs: an NVIDIA GPU, nvcc, make, python3 with numpy
# (and torch for the timings). No Go, no network.
#
#   bash run.sh                 the full check (under 5 minutes on an H100/H200)
#   bash run.sh --emulate       no GPU: build the CPU emulation (g++) instead of
#                               nvcc, check outputs; no GPU timings; SGEMM only
#                               when small (prepare -sgemm 256); where torch is
#                               installed, the PyTorch reference is checked on the CPU
#   bash run.sh --only "a b"    some cases only
#   ARCH=sm_90 bash run.sh      architecture (default: from nvidia-smi, else sm_90)
#
# Results: a table on stdout, and results.txt / results.json in the bundle.
set -u
cd "$(dirname "$0")"
if [ ! -f cases.json ]; then
  # Run from the repository (testbench/gpu/run.sh): use the prepared bundle.
  b=${GPU_BUNDLE:-../../out/gpu-bundle}
  if [ -f "$b/cases.json" ]; then exec bash "$b/run.sh" "$@"; fi
  echo "run.sh: no bundle here or in $b; prepare one first (where Go is): go run ./testbench/gpu/prepare -o out/gpu-bundle" >&2
  exit 2
fi
BUNDLE=$(pwd)
EMULATE=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --emulate) EMULATE=1 ;;
    --only) ONLY="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}
START=$(date +%s)

cases=$($PY -c 'import json; print(" ".join(c["name"] for c in json.load(open("cases.json"))))') || { echo "run.sh: cannot read cases.json (python3 needed)" >&2; exit 2; }
if [ -n "$ONLY" ]; then cases="$ONLY"; fi
field() { $PY -c 'import json,sys; c=[c for c in json.load(open("cases.json")) if c["name"]==sys.argv[1]][0]; print(c[sys.argv[2]])' "$1" "$2"; }
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

if [ "$EMULATE" = 0 ]; then
  command -v nvcc >/dev/null || { echo "run.sh: nvcc not found (use --emulate without a GPU)" >&2; exit 2; }
  if [ -z "${ARCH:-}" ]; then
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
    ARCH=sm_${cc:-90}
  fi
  GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  echo "== wdc GPU check: ${GPU:-unknown GPU}, $ARCH, $(nvcc --version | tail -1)"
else
  echo "== wdc GPU check, emulation mode (g++, no GPU): outputs only, no timings"
fi

# Build every case in parallel.
JOBS=$(nproc 2>/dev/null || echo 4)
pids=()
sgemm_n() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]+"/manifest.json"))["inputs"][0]["shape"][0])' "$1"; }
skip_emulated() { [ "$EMULATE" = 1 ] && [ "$(field "$1" kind)" = sgemm ] && [ "$(sgemm_n "$1")" -gt 512 ]; }
for c in $cases; do
  skip_emulated "$c" && continue
  (
    if [ "$EMULATE" = 1 ]; then
      make -s -C "$c" emulate >"$c/build.log" 2>&1
    else
      make -s -C "$c" run_model ARCH="-arch=$ARCH" >"$c/build.log" 2>&1
    fi
  ) &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
done
for p in "${pids[@]}"; do wait "$p"; done
echo "   built in $(( $(date +%s) - START ))s"

: >results.txt
echo "[" >results.json
first=1
fail=0
printf '%-22s %-4s %-10s %-11s %-11s %-9s %s\n' case ok max_err wdc_ms torch_ms ratio target | tee -a results.txt
for c in $cases; do
  kind=$(field "$c" kind)
  target=$(field "$c" target)
  tratio=$(field "$c" target_ratio)
  iters=$(field "$c" iters)
  if skip_emulated "$c"; then
    printf '%-22s %-4s %s\n' "$c" - "skipped in emulation (too big; prepare -sgemm 256 for a small one)" | tee -a results.txt
    continue
  fi
  exe=run_model; [ "$EMULATE" = 1 ] && exe=run_model_emu
  if [ ! -x "$c/$exe" ]; then
    printf '%-22s %-4s %s\n' "$c" FAIL "build failed: $(tail -3 "$c/build.log" | tr '\n' ' ')" | tee -a results.txt
    fail=1; continue
  fi
  if [ "$kind" = sgemm ]; then
    $PY check.py sgemm-inputs "$c" >/dev/null || { echo "$c: cannot make SGEMM inputs" | tee -a results.txt; fail=1; continue; }
  fi
  rm -rf "$c/out"; mkdir -p "$c/out"
  n=$iters; [ "$EMULATE" = 1 ] && n=0
  ins=$(ls "$c"/inputs/input_*.npy | sort -V)
  run=$(cd "$c" && timeout 120 "./$exe" -w weights.bin -o out -n "$n" $(for f in $ins; do echo "$BUNDLE/$f"; done) 2>&1)
  rc=$?
  if [ $rc != 0 ]; then
    printf '%-22s %-4s %s\n' "$c" FAIL "run failed (rc $rc): $(echo "$run" | tail -3 | tr '\n' ' ')" | tee -a results.txt
    fail=1; continue
  fi
  wdc_ms=$(echo "$run" | sed -n 's/.*wdc_time_ms median=\([0-9.]*\).*/\1/p')
  if [ "$EMULATE" = 0 ]; then
    # Per-kernel times (CUDA events around every launch) for tuning.
    (cd "$c" && WDC_PROFILE=1 timeout 120 "./$exe" -w weights.bin -o out -n 20 $(for f in $ins; do echo "$BUNDLE/$f"; done) 2>&1 | grep '^wdc profile' >profile.txt)
  fi
  cmp=$($PY check.py compare "$c" "$c/out")
  ok=$(kv "$cmp" ok); err=$(kv "$cmp" max_abs_err)
  [ "$ok" = 1 ] || fail=1
  torch_ms=""; ratio=""; verdict=""
  if [ "$EMULATE" = 1 ] && [ "$(field "$c" torch)" = True ]; then
    # No GPU: check that the PyTorch reference computes the same network.
    tr=$($PY check.py torch "$c" 3 cpu 2>&1 | tail -1)
    verdict="torch-cpu: $(kv "$tr" torch_ok | sed 's/1/ok/;s/0/n\/a/') bad=$(kv "$tr" torch_bad)"
    [ -n "$(kv "$tr" torch_bad)" ] && [ "$(kv "$tr" torch_bad)" != 0 ] && fail=1
  fi
  if [ "$EMULATE" = 0 ] && [ "$(field "$c" torch)" = True ]; then
    tr=$($PY check.py torch "$c" "$iters" 2>&1 | tail -1)
    torch_ms=$(kv "$tr" torch_ms)
    if [ -n "$torch_ms" ] && [ -n "$wdc_ms" ]; then
      if [ "$kind" = sgemm ]; then
        ratio=$($PY -c "print('%.3f' % ($torch_ms/$wdc_ms))")   # fraction of cuBLAS throughput
        met=$($PY -c "print(int($torch_ms/$wdc_ms >= $tratio))")
      else
        ratio=$($PY -c "print('%.3f' % ($wdc_ms/$torch_ms))")   # wdc time / PyTorch time
        met=$($PY -c "print(int($tratio == 0 or $wdc_ms/$torch_ms <= $tratio))")
      fi
      [ "$tratio" != "0" ] && [ "$tratio" != "0.0" ] && { [ "$met" = 1 ] && verdict="MET" || verdict="MISSED"; }
    else
      verdict="(torch: $(kv "$tr" reason))"
    fi
    [ "$(kv "$tr" torch_bad)" != "" ] && [ "$(kv "$tr" torch_bad)" != 0 ] && verdict="$verdict torch-reference-differs(bad=$(kv "$tr" torch_bad))"
  fi
  okw=ok; [ "$ok" = 1 ] || okw=FAIL
  printf '%-22s %-4s %-10s %-11s %-11s %-9s %s %s\n' "$c" "$okw" "${err:-?}" "${wdc_ms:--}" "${torch_ms:--}" "${ratio:--}" "$target" "$verdict" | tee -a results.txt
  [ $first = 1 ] || echo "," >>results.json
  first=0
  printf '{"case": "%s", "ok": %s, "max_abs_err": "%s", "wdc_ms": "%s", "torch_ms": "%s", "ratio": "%s", "target": "%s", "verdict": "%s"}' \
    "$c" "${ok:-0}" "${err:-}" "${wdc_ms:-}" "${torch_ms:-}" "${ratio:-}" "$target" "$verdict" >>results.json
done
echo "]" >>results.json
echo "   ratio: wdc time / PyTorch eager time (SGEMM: cuBLAS time / wdc time = fraction of cuBLAS throughput)" | tee -a results.txt
[ "$EMULATE" = 0 ] && echo "   per-kernel times: <case>/profile.txt; nvcc output: <case>/build.log" | tee -a results.txt
echo "== done in $(( $(date +%s) - START ))s; $( [ $fail = 0 ] && echo 'all outputs match' || echo 'FAILURES above')" | tee -a results.txt
exit $fail
