#!/usr/bin/env python3
"""GPU check helper (run by run.sh; needs numpy, and torch for timing).

  check.py sgemm-inputs CASE_DIR          make inputs/ and golden/ for the SGEMM case
  check.py compare CASE_DIR OUT_DIR       compare OUT_DIR/output_*.npy with CASE_DIR/golden
  check.py torch CASE_DIR ITERS [cpu]     rebuild the network in PyTorch from graph.json and
                                          weights.bin, check it against golden/, time it eagerly
Each prints one line "key=value ..." that run.sh collects.
"""
import glob
import json
import os
import sys
import time

import numpy as np


def load_outputs(d):
    return [np.load(p) for p in sorted(glob.glob(os.path.join(d, "output_*.npy")), key=lambda p: int(p.rsplit("_", 1)[1][:-4]))]


def max_err(got, want):
    worst, bad = 0.0, 0
    for g, w in zip(got, want):
        g = g.astype(np.float64).ravel()
        w = w.astype(np.float64).ravel()
        if g.shape != w.shape:
            return float("inf"), 1
        d = np.abs(g - w)
        # absolute tolerance scaled by the output's magnitude (a 4096-long
        # float32 dot product of values near 20 is not exact to 1e-4)
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        tol = 1e-4 * scale + 1e-3 * np.abs(w)
        bad += int(np.sum((d > tol) | np.isnan(g)))
        if d.size:
            worst = max(worst, float(np.nanmax(d)) if not np.isnan(g).any() else float("inf"))
    return worst, bad


def cmd_compare(case, out):
    want = load_outputs(os.path.join(case, "golden"))
    got = load_outputs(out)
    if len(got) != len(want) or not want:
        print("ok=0 reason=missing_outputs got=%d want=%d" % (len(got), len(want)))
        return 1
    worst, bad = max_err(got, want)
    print("ok=%d max_abs_err=%.3g bad=%d" % (int(bad == 0), worst, bad))
    return 0 if bad == 0 else 1


def cmd_sgemm_inputs(case):
    man = json.load(open(os.path.join(case, "manifest.json")))
    n = man["inputs"][0]["shape"][0]
    os.makedirs(os.path.join(case, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(case, "golden"), exist_ok=True)
    rng = np.random.default_rng(4096)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    np.save(os.path.join(case, "inputs", "input_0.npy"), a)
    np.save(os.path.join(case, "inputs", "input_1.npy"), b)
    try:
        import torch
        if torch.cuda.is_available():
            c = (torch.from_numpy(a).cuda().double() @ torch.from_numpy(b).cuda().double()).float().cpu().numpy()
        else:
            raise ImportError
    except ImportError:
        c = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    np.save(os.path.join(case, "golden", "output_0.npy"), c)
    print("ok=1 n=%d" % n)
    return 0


def torch_model(case, dev):
    import torch
    import torch.nn.functional as F
    g = json.load(open(os.path.join(case, "graph.json")))
    raw = np.fromfile(os.path.join(case, "weights.bin"), dtype="<f4")
    consts = {}
    for c in g["consts"] or []:
        n = int(np.prod(c["shape"])) if c["shape"] else 1
        consts[c["name"]] = torch.from_numpy(raw[c["offset"]:c["offset"] + n].reshape(c["shape"]).copy()).to(dev)

    def pad_nd(x, pads, value):
        sp = len(pads) // 2
        tp = []
        for d in reversed(range(sp)):
            tp += [pads[d], pads[sp + d]]
        return F.pad(x, tp, value=value) if any(tp) else x

    def conv(x, w, b, a):
        sp = x.dim() - 2
        x = pad_nd(x, a["pads"], 0.0)
        f = [None, F.conv1d, F.conv2d, F.conv3d][sp]
        return f(x, w, b, stride=a["strides"], dilation=a["dilations"], groups=a["group"])

    def pool(op, x, a, shape):
        sp = x.dim() - 2
        pads = a["pads"]
        sym = all(pads[d] == pads[sp + d] for d in range(sp)) and all(2 * pads[d] <= a["kernel_shape"][d] for d in range(sp))
        if op == "max_pool":
            f = [None, F.max_pool1d, F.max_pool2d, F.max_pool3d][sp]
            if sym:
                y = f(x, a["kernel_shape"], a["strides"], [pads[d] for d in range(sp)], a["dilations"], ceil_mode=bool(a["ceil_mode"]))
            else:
                y = f(pad_nd(x, pads, float("-inf")), a["kernel_shape"], a["strides"], 0, a["dilations"], ceil_mode=bool(a["ceil_mode"]))
        else:
            if any(d != 1 for d in a["dilations"]) or not sym:
                raise NotImplementedError("avg_pool with dilations or asymmetric pads")
            f = [None, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][sp]
            y = f(x, a["kernel_shape"], a["strides"], [pads[d] for d in range(sp)], ceil_mode=bool(a["ceil_mode"]), count_include_pad=bool(a["count_include_pad"]))
        if list(y.shape) != shape:
            raise NotImplementedError("pool output shape %s != %s" % (list(y.shape), shape))
        return y

    def run(inputs):
        env = dict(consts)
        for info, t in zip(g["inputs"], inputs):
            env[info["name"]] = t
        for n in g["nodes"]:
            op, a = n["op"], n["attrs"]
            ins = [env.get(i) for i in n["inputs"]]
            x = ins[0]
            if op == "conv":
                y = conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)
            elif op == "dense":
                A = x.t() if a["trans_a"] else x
                B = ins[1].t() if a["trans_b"] else ins[1]
                if len(ins) > 2 and a["beta"] != 0:
                    y = torch.addmm(ins[2], A, B, beta=a["beta"], alpha=a["alpha"]) if ins[2].dim() <= 2 else a["alpha"] * (A @ B) + a["beta"] * ins[2]
                else:
                    y = a["alpha"] * (A @ B) if a["alpha"] != 1 else A @ B
            elif op == "matmul":
                y = torch.matmul(x, ins[1])
            elif op in ("max_pool", "avg_pool"):
                y = pool(op, x, a, n["shape"])
            elif op == "global_avg_pool":
                y = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
            elif op == "relu":
                y = F.relu(x)
            elif op == "leaky_relu":
                y = F.leaky_relu(x, a["alpha"])
            elif op == "sigmoid":
                y = torch.sigmoid(x)
            elif op == "tanh":
                y = torch.tanh(x)
            elif op == "clip":
                y = torch.clamp(x, a["min"], a["max"])
            elif op in ("add", "sub", "mul", "div"):
                y = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op](x, ins[1])
            elif op == "batch_norm":
                y = F.batch_norm(x, ins[3], ins[4], ins[1], ins[2], False, 0.0, a["epsilon"])
            elif op == "softmax":
                y = torch.softmax(x, a["axis"])
            elif op in ("flatten", "reshape"):
                y = x.reshape(n["shape"])
            elif op == "transpose":
                y = x.permute(a["perm"])
            elif op == "concat":
                y = torch.cat(ins, a["axis"])
            else:
                raise NotImplementedError(op)
            env[n["name"]] = y
        return [env[o] for o in g["outputs"]]
    return run


def cmd_torch(case, iters, device="cuda"):
    try:
        import torch
    except ImportError:
        print("torch_ok=0 reason=no_torch")
        return 0
    if device == "cuda" and not torch.cuda.is_available():
        print("torch_ok=0 reason=no_cuda")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(device)
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    try:
        run = torch_model(case, dev)
    except NotImplementedError as e:
        print("torch_ok=0 reason=unsupported:%s" % str(e).replace(" ", "_"))
        return 0
    ins = [torch.from_numpy(np.load(p)).to(dev) for p in sorted(glob.glob(os.path.join(case, "inputs", "input_*.npy")))]
    with torch.inference_mode():
        try:
            outs = run(ins)
        except NotImplementedError as e:
            print("torch_ok=0 reason=unsupported:%s" % str(e).replace(" ", "_"))
            return 0
        sync()
        worst, bad = max_err([o.float().cpu().numpy() for o in outs], load_outputs(os.path.join(case, "golden")))
        for _ in range(10):
            run(ins)
        sync()
        ms = []
        if cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(iters):
            if cuda:
                s.record()
                run(ins)
                e.record()
                e.synchronize()
                ms.append(s.elapsed_time(e))
            else:
                t0 = time.perf_counter()
                run(ins)
                ms.append(1e3 * (time.perf_counter() - t0))
    ms.sort()
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    print("torch_ok=1 torch_ms=%.5f torch_min_ms=%.5f torch_max_abs_err=%.3g torch_bad=%d device=%s" % (
        ms[len(ms) // 2], ms[0], worst, bad, name.replace(" ", "_")))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    c = sys.argv[1]
    if c == "compare":
        sys.exit(cmd_compare(sys.argv[2], sys.argv[3]))
    if c == "sgemm-inputs":
        sys.exit(cmd_sgemm_inputs(sys.argv[2]))
    if c == "torch":
        sys.exit(cmd_torch(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "cuda"))
    print(__doc__)
    sys.exit(2)
