// ort_run.js runs an ONNX model with ONNX Runtime (onnxruntime-node) on one
// float32 input and writes the first output as raw little-endian float32:
//
//   node ort_run.js MODEL.onnx INPUT.bin SHAPE OUT.bin
//
// SHAPE is the input shape as NxCxHxW (or comma-separated). The output's
// shape is printed on stdout as JSON. onnxruntime-node is found through
// NODE_PATH (the Go test sets it to tools/ort/node_modules or
// $FOVEA_ORT_NODE_MODULES).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inPath, shapeArg, outPath] = process.argv.slice(2);
  if (!outPath) {
    throw new Error('usage: node ort_run.js MODEL.onnx INPUT.bin SHAPE OUT.bin');
  }
  const shape = shapeArg.split(/[x,]/).map(Number);
  const buf = fs.readFileSync(inPath);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const want = shape.reduce((a, b) => a * b, 1);
  if (data.length !== want) {
    throw new Error(`${inPath} holds ${data.length} floats, shape ${shape} needs ${want}`);
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  process.stdout.write(JSON.stringify({ name: session.outputNames[0], dims: out.dims }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
