#!/usr/bin/python3
"""wdc bench peer for Python runtimes: PyTorch (eager, CPU) and numpy/OpenBLAS.

Usage: /usr/bin/python3 py_peer.py pytorch|openblas

A long-lived child of `wdc bench`, speaking JSON lines on stdin/stdout
(one request per line, one reply per line; see testbench/bench/protocol.go):
  {"op":"load","model":PATH,"threads":N}
  {"op":"set_inputs","inputs":[{"name","dtype":"float32","shape":[..],"data":BASE64}]}
  {"op":"run","runs":R,"want_outputs":BOOL}   -> {"ok":true,"ms":[...],"outputs":[...]}
  {"op":"quit"}
Every reply has "ok"; a failed request answers {"ok":false,"error":"..."}.
Latency is measured here, in-process, around the forward call only.

pytorch: the ONNX graph (weights included) is converted into a torch.nn.Module
that calls torch.nn.functional per node, run under torch.inference_mode().
openblas: models that are a single MatMul or Gemm node, computed by numpy's
matmul (OpenBLAS sgemm), for the SGEMM benchmark.
"""
import base64
import json
import os
import sys
import time
import traceback


def encode(name, arr):
    import numpy as np
    a = np.ascontiguousarray(arr, dtype="<f4")
    return {"name": name, "dtype": "float32", "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode(t):
    import numpy as np
    if t.get("dtype", "float32") != "float32":
        raise ValueError("input %s: dtype %s is not supported (float32 only)" % (t["name"], t["dtype"]))
    raw = base64.b64decode(t["data"])
    n = 1
    for d in t["shape"]:
        n *= d
    if len(raw) != 4 * n:
        raise ValueError("input %s: shape %s needs %d bytes, got %d" % (t["name"], t["shape"], 4 * n, len(raw)))
    return np.frombuffer(raw, dtype="<f4").reshape(t["shape"]).copy()


def load_onnx(path):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise RuntimeError("the onnx Python package is missing (Debian: apt-get install python3-onnx): %s" % e)
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    opset = 1
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            opset = o.version
    return m, inits, opset


def attrs_of(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def value_meta(vi):
    dims = []
    for d in vi.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else -1)
    return {"name": vi.name, "dtype": "float32", "shape": dims}


# ---------------------------------------------------------------- PyTorch


class TorchModel:
    """An ONNX graph executed node by node with torch.nn.functional."""

    def __init__(self, path, threads):
        import numpy as np
        import torch
        import torch.nn.functional as F
        self.torch, self.F = torch, F
        m, inits, opset = load_onnx(path)
        self.opset = opset
        self.consts = {k: torch.from_numpy(np.array(v)) for k, v in inits.items()}
        self.inputs = [value_meta(i) for i in m.graph.input if i.name not in inits]
        self.outputs = [value_meta(o) for o in m.graph.output]
        self.plan = []
        for node in m.graph.node:
            step = self.compile(node)
            if step is not None:
                self.plan.append((step, node.output[0]))

    def pads2d(self, a, x_rank):
        sp = x_rank - 2
        pads = list(a.get("pads", [0] * (2 * sp)))
        auto = a.get("auto_pad", b"NOTSET")
        if isinstance(auto, bytes):
            auto = auto.decode()
        if auto not in ("NOTSET", "VALID"):
            return None, auto  # SAME_*: computed per call
        if auto == "VALID":
            pads = [0] * (2 * sp)
        return pads, auto

    def compile(self, node):
        torch, F = self.torch, self.F
        op = node.op_type
        a = attrs_of(node)
        ins, outs = list(node.input), list(node.output)
        consts = self.consts

        def same_pad(x, k, s, d, upper):
            pads_b, pads_e = [], []
            for i in range(len(k)):
                n = x.shape[2 + i]
                o = (n + s[i] - 1) // s[i]
                total = max(0, (o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n)
                lo = total // 2 if upper else total - total // 2
                pads_b.append(lo)
                pads_e.append(total - lo)
            return pads_b + pads_e

        def apply_pad(x, pads, value=0.0):
            sp = len(pads) // 2
            if not any(pads):
                return x, [0] * sp
            if all(pads[i] == pads[i + sp] for i in range(sp)):
                return x, pads[:sp]
            fp = []
            for i in reversed(range(sp)):
                fp += [pads[i], pads[i + sp]]
            return F.pad(x, fp, value=value), [0] * sp

        if op == "Conv":
            w = ins[1]
            b = ins[2] if len(ins) > 2 and ins[2] else None
            group = a.get("group", 1)

            def f(env):
                x, W = env[ins[0]], env[w]
                sp = x.dim() - 2
                k = list(a.get("kernel_shape", W.shape[2:]))
                s = list(a.get("strides", [1] * sp))
                d = list(a.get("dilations", [1] * sp))
                pads, auto = self.pads2d(a, x.dim())
                if pads is None:
                    pads = same_pad(x, k, s, d, auto == "SAME_UPPER")
                x, p = apply_pad(x, pads)
                conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[sp]
                return conv(x, W, env[b] if b else None, s, p, d, group)
            return f
        if op in ("MaxPool", "AveragePool"):
            def f(env):
                x = env[ins[0]]
                sp = x.dim() - 2
                k = list(a["kernel_shape"])
                s = list(a.get("strides", [1] * sp))
                d = list(a.get("dilations", [1] * sp))
                ceil = bool(a.get("ceil_mode", 0))
                pads, auto = self.pads2d(a, x.dim())
                if pads is None:
                    pads = same_pad(x, k, s, d, auto == "SAME_UPPER")
                if op == "MaxPool":
                    x, p = apply_pad(x, pads, value=float("-inf"))
                    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[sp]
                    return fn(x, k, s, p, d, ceil_mode=ceil)
                include = bool(a.get("count_include_pad", 0))
                if any(pads) and not include and any(pads[i] != pads[i + sp] for i in range(sp)):
                    raise ValueError("%s: asymmetric pads without count_include_pad are not supported" % node.name)
                x, p = apply_pad(x, pads)
                fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[sp]
                return fn(x, k, s, p, ceil_mode=ceil, count_include_pad=include)
            return f
        if op == "GlobalAveragePool":
            return lambda env: env[ins[0]].mean(dim=tuple(range(2, env[ins[0]].dim())), keepdim=True)
        if op == "GlobalMaxPool":
            return lambda env: torch.amax(env[ins[0]], dim=tuple(range(2, env[ins[0]].dim())), keepdim=True)
        if op == "BatchNormalization":
            eps = a.get("epsilon", 1e-5)
            return lambda env: F.batch_norm(env[ins[0]], env[ins[3]], env[ins[4]], env[ins[1]], env[ins[2]], False, 0.0, eps)
        if op == "Relu":
            return lambda env: F.relu(env[ins[0]])
        if op == "LeakyRelu":
            alpha = a.get("alpha", 0.01)
            return lambda env: F.leaky_relu(env[ins[0]], alpha)
        if op == "Sigmoid":
            return lambda env: torch.sigmoid(env[ins[0]])
        if op == "Tanh":
            return lambda env: torch.tanh(env[ins[0]])
        if op == "Clip":
            lo = a.get("min", None)
            hi = a.get("max", None)

            def f(env):
                mn = env[ins[1]].item() if len(ins) > 1 and ins[1] else lo
                mx = env[ins[2]].item() if len(ins) > 2 and ins[2] else hi
                return torch.clamp(env[ins[0]], mn, mx)
            return f
        if op in ("Add", "Sub", "Mul", "Div"):
            fn = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op]
            return lambda env: fn(env[ins[0]], env[ins[1]])
        if op == "MatMul":
            return lambda env: torch.matmul(env[ins[0]], env[ins[1]])
        if op == "Gemm":
            alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
            ta, tb = a.get("transA", 0), a.get("transB", 0)
            c = ins[2] if len(ins) > 2 and ins[2] else None

            def f(env):
                A, B = env[ins[0]], env[ins[1]]
                if ta:
                    A = A.t()
                if tb:
                    B = B.t()
                if c is None:
                    y = torch.mm(A, B)
                    return y * alpha if alpha != 1.0 else y
                return torch.addmm(env[c], A, B, beta=beta, alpha=alpha)
            return f
        if op == "Flatten":
            axis = a.get("axis", 1)

            def f(env):
                x = env[ins[0]]
                ax = axis if axis >= 0 else axis + x.dim()
                lead = 1
                for d in x.shape[:ax]:
                    lead *= d
                return x.reshape(lead, -1)
            return f
        if op == "Reshape":
            def f(env):
                x = env[ins[0]]
                shape = [int(v) for v in (env[ins[1]].tolist() if len(ins) > 1 else a["shape"])]
                if not a.get("allowzero", 0):
                    shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
                return x.reshape(shape)
            return f
        if op == "Transpose":
            def f(env):
                x = env[ins[0]]
                perm = a.get("perm", list(reversed(range(x.dim()))))
                return x.permute(*perm)
            return f
        if op == "Concat":
            axis = a["axis"]
            return lambda env: torch.cat([env[i] for i in ins], dim=axis)
        if op in ("Softmax", "LogSoftmax"):
            default = -1 if self.opset >= 13 else 1
            axis = a.get("axis", default)
            fn = F.softmax if op == "Softmax" else F.log_softmax

            def f(env):
                x = env[ins[0]]
                if self.opset >= 13:
                    return fn(x, dim=axis)
                ax = axis if axis >= 0 else axis + x.dim()
                lead = 1
                for d in x.shape[:ax]:
                    lead *= d
                return fn(x.reshape(lead, -1), dim=1).reshape(x.shape)
            return f
        if op in ("Identity", "Dropout"):
            return lambda env: env[ins[0]]
        if op == "Constant":
            from onnx import numpy_helper
            import numpy as np
            self.consts[outs[0]] = torch.from_numpy(np.array(numpy_helper.to_array(a["value"])))
            return None
        raise ValueError("node %r: ONNX op %s is not supported by the PyTorch peer" % (node.name or outs[0], op))

    def run(self, feeds):
        env = dict(self.consts)
        env.update(feeds)
        # Steps are closures in node order; each writes its node's first output.
        for step, out in self.plan:
            env[out] = step(env)
        return [env[o["name"]] for o in self.outputs]


# ---------------------------------------------------------------- numpy


class NumpyGemm:
    def __init__(self, path):
        import numpy as np
        m, inits, _ = load_onnx(path)
        nodes = [n for n in m.graph.node if n.op_type not in ("Identity",)]
        if len(nodes) != 1 or nodes[0].op_type not in ("MatMul", "Gemm"):
            raise ValueError("the openblas peer runs only models of one MatMul or Gemm node (SGEMM benchmarks); %s has %s"
                             % (path, [n.op_type for n in m.graph.node]))
        n = nodes[0]
        self.a = attrs_of(n)
        self.op = n.op_type
        self.ins = list(n.input)
        self.consts = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inits.items()}
        self.inputs = [value_meta(i) for i in m.graph.input if i.name not in inits]
        self.outputs = [value_meta(o) for o in m.graph.output]
        self.out = None

    def run(self, feeds):
        import numpy as np
        env = dict(self.consts)
        env.update(feeds)
        A, B = env[self.ins[0]], env[self.ins[1]]
        if self.op == "Gemm":
            if self.a.get("transA", 0):
                A = A.T
            if self.a.get("transB", 0):
                B = B.T
            y = np.matmul(A, B)
            if self.a.get("alpha", 1.0) != 1.0:
                y *= self.a["alpha"]
            if len(self.ins) > 2 and self.ins[2]:
                y += self.a.get("beta", 1.0) * env[self.ins[2]]
            return [y]
        if self.out is None or self.out.shape != (A.shape[0], B.shape[1]):
            self.out = np.empty((A.shape[0], B.shape[1]), dtype=np.float32)
        if A.ndim == 2 and B.ndim == 2:
            np.matmul(A, B, out=self.out)
            return [self.out]
        return [np.matmul(A, B)]


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        for p in threadpool_info():
            if p.get("user_api") == "blas":
                return "%s %s %s threads=%s" % (p.get("internal_api"), p.get("version"), p.get("architecture"), p.get("num_threads"))
    except Exception:
        pass
    return "unknown BLAS"


# ---------------------------------------------------------------- protocol


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("pytorch", "openblas"):
        sys.stderr.write("usage: py_peer.py pytorch|openblas\n")
        sys.exit(2)
    kind = sys.argv[1]
    model = None
    feeds = None
    torch = None
    if kind == "pytorch":
        try:
            import torch as _t
            torch = _t
            torch.set_num_interop_threads(1)
        except ImportError as e:
            torch = e
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "load":
                threads = int(req.get("threads") or 1)
                if kind == "pytorch":
                    if isinstance(torch, Exception):
                        raise RuntimeError("PyTorch is missing (Debian: apt-get install python3-torch): %s" % torch)
                    torch.set_num_threads(threads)
                    model = TorchModel(req["model"], threads)
                    version = "torch %s (%s)" % (torch.__version__, "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN")
                else:
                    try:
                        from threadpoolctl import threadpool_limits
                        threadpool_limits(threads)
                    except ImportError:
                        pass
                    model = NumpyGemm(req["model"])
                    import numpy as np
                    version = "numpy %s, %s" % (np.__version__, blas_info())
                reply = {"ok": True, "peer": kind, "version": version, "threads": threads,
                         "inputs": model.inputs, "outputs": model.outputs}
            elif op == "set_inputs":
                if model is None:
                    raise RuntimeError("set_inputs before load")
                feeds = {}
                for t in req["inputs"]:
                    arr = decode(t)
                    feeds[t["name"]] = torch.from_numpy(arr) if kind == "pytorch" else arr
                reply = {"ok": True}
            elif op == "run":
                if model is None or feeds is None:
                    raise RuntimeError("run before load and set_inputs")
                runs = int(req.get("runs") or 1)
                ms = []
                res = None
                if kind == "pytorch":
                    with torch.inference_mode():
                        for _ in range(runs):
                            t0 = time.perf_counter_ns()
                            res = model.run(feeds)
                            t1 = time.perf_counter_ns()
                            ms.append((t1 - t0) / 1e6)
                    res = [r.numpy() for r in res]
                else:
                    for _ in range(runs):
                        t0 = time.perf_counter_ns()
                        res = model.run(feeds)
                        t1 = time.perf_counter_ns()
                        ms.append((t1 - t0) / 1e6)
                reply = {"ok": True, "ms": ms}
                if req.get("want_outputs"):
                    reply["outputs"] = [encode(o["name"], r) for o, r in zip(model.outputs, res)]
            elif op == "quit":
                return
            else:
                raise ValueError("unknown op %r" % (op,))
        except Exception as e:
            msg = "%s: %s" % (type(e).__name__, e)
            if os.environ.get("WDC_PEER_TRACE"):
                msg += "\n" + traceback.format_exc()
            reply = {"ok": False, "error": msg}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
