// wdc bench peer: onnxruntime (CPU) through the npm package onnxruntime-node.
//
// A long-lived child of `wdc bench`, speaking JSON lines on stdin/stdout
// (one request per line, one reply per line; see testbench/bench/protocol.go):
//   {"op":"load","model":PATH,"threads":N}
//   {"op":"set_inputs","inputs":[{"name","dtype":"float32","shape":[..],"data":BASE64}]}
//   {"op":"run","runs":R,"want_outputs":BOOL}   -> {"ok":true,"ms":[...],"outputs":[...]}
//   {"op":"quit"}
// Every reply has "ok"; a failed request answers {"ok":false,"error":"..."}.
// Latency is measured here, in-process, around session.run only.
'use strict';

const readline = require('readline');

let ort = null;
let ortError = null;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  ortError = 'cannot load onnxruntime-node (install it with `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in testbench/bench/peers): ' + e.message;
}

let session = null;
let feeds = null;

function version() {
  try {
    return require('onnxruntime-node/package.json').version;
  } catch (e) {
    return ort && ort.env && ort.env.versions ? String(ort.env.versions.common) : 'unknown';
  }
}

function decode(t) {
  if (t.dtype !== 'float32') throw new Error(`input ${t.name}: dtype ${t.dtype} is not supported (float32 only)`);
  const buf = Buffer.from(t.data, 'base64');
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (buf.length !== 4 * n) throw new Error(`input ${t.name}: shape ${JSON.stringify(t.shape)} needs ${4 * n} bytes, got ${buf.length}`);
  // Copy into an aligned Float32Array (Buffer slices may be unaligned).
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = buf.readFloatLE(4 * i);
  return new ort.Tensor('float32', f, t.shape);
}

function encode(name, tensor) {
  if (tensor.type !== 'float32') {
    const data = Float32Array.from(tensor.data, Number);
    return { name, dtype: 'float32', shape: Array.from(tensor.dims), data: Buffer.from(data.buffer).toString('base64') };
  }
  const d = tensor.data;
  return { name, dtype: 'float32', shape: Array.from(tensor.dims), data: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64') };
}

async function handle(req) {
  switch (req.op) {
    case 'load': {
      if (!ort) throw new Error(ortError);
      const threads = req.threads > 0 ? req.threads : 1;
      session = await ort.InferenceSession.create(req.model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      const meta = (names, md) => names.map((n, i) => {
        const m = md ? md[i] : null;
        return { name: n, dtype: m && m.type ? m.type : 'float32', shape: m && m.shape ? m.shape.map(d => (typeof d === 'number' ? d : -1)) : [] };
      });
      return {
        ok: true, peer: 'onnxruntime', version: version(), threads,
        inputs: meta(session.inputNames, session.inputMetadata),
        outputs: meta(session.outputNames, session.outputMetadata),
      };
    }
    case 'set_inputs': {
      if (!session) throw new Error('set_inputs before load');
      feeds = {};
      for (const t of req.inputs) feeds[t.name] = decode(t);
      return { ok: true };
    }
    case 'run': {
      if (!session || !feeds) throw new Error('run before load and set_inputs');
      const runs = req.runs > 0 ? req.runs : 1;
      const ms = [];
      let out = null;
      for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        out = await session.run(feeds);
        const t1 = process.hrtime.bigint();
        ms.push(Number(t1 - t0) / 1e6);
      }
      const reply = { ok: true, ms };
      if (req.want_outputs) reply.outputs = session.outputNames.map(n => encode(n, out[n]));
      return reply;
    }
    case 'quit':
      process.exit(0);
      return null;
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on('line', line => {
  chain = chain.then(async () => {
    let reply;
    try {
      const req = JSON.parse(line);
      reply = await handle(req);
    } catch (e) {
      reply = { ok: false, error: String(e && e.message ? e.message : e) };
    }
    if (reply) process.stdout.write(JSON.stringify(reply) + '\n');
  });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });
