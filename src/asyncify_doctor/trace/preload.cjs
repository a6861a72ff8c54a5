// asyncify-doctor trace: preloaded into node (`--require`, via NODE_OPTIONS) so the user's own
// command runs unchanged. It wraps the imports matching ASYNCIFY_DOCTOR_TRACE_IMPORTS — whether the
// module comes from WebAssembly.instantiate, instantiateStreaming or new WebAssembly.Instance, and
// whether the import is a plain function or a JSPI WebAssembly.Suspending — and records the whole
// wasm stack at every call, deduplicated with counts, into ASYNCIFY_DOCTOR_TRACE_DIR/<pid>-<thread>.json.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const DIR = process.env.ASYNCIFY_DOCTOR_TRACE_DIR;
const PATTERNS = (process.env.ASYNCIFY_DOCTOR_TRACE_IMPORTS || "").split(",").filter(Boolean);
if (DIR && typeof WebAssembly === "object") install();

function wildcard(pattern) {
  return new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$", "s");
}

function install() {
  Error.stackTraceLimit = Infinity;
  const regexes = PATTERNS.map((p) => [p.includes("."), wildcard(p)]);
  const matches = (module, name) => regexes.some(([dotted, re]) => re.test(dotted ? `${module}.${name}` : name));
  const stacks = new Map();
  let threadId = 0;
  try { threadId = require("node:worker_threads").threadId; } catch { /* no workers */ }
  const file = path.join(DIR, `${process.pid}-${threadId}.json`);
  const FRAME = /at (?:(\S+) \()?wasm:\/\/wasm\/([^:\s)]*):wasm-function\[(\d+)\]:0x([0-9a-f]+)/;

  function record(key) {
    const frames = [];
    let module = null;
    for (const line of String(new Error().stack).split("\n")) {
      const m = FRAME.exec(line);
      if (!m) continue;
      module = module || m[2];
      let name = m[1] || null;
      if (name && name.startsWith(m[2].replace(/-[0-9a-f]+$/, "") + ".")) name = name.slice(m[2].replace(/-[0-9a-f]+$/, "").length + 1);
      frames.push({ name, index: Number(m[3]) });
    }
    const id = key + "|" + (module || "") + "|" + frames.map((f) => f.index).join(",");
    const seen = stacks.get(id);
    if (seen) { seen.count++; return; }
    stacks.set(id, { import: key, module, frames, count: 1 });
    write();   // each new stack is on disk at once: survives a crash or a kill
  }

  function write() {
    const tmp = file + ".tmp";
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, thread: threadId, argv: process.argv, stacks: [...stacks.values()] }));
    fs.renameSync(tmp, file);
  }

  const holders = new WeakMap();   // Suspending object -> holder of its import key, set when wrapped
  const OrigSuspending = WebAssembly.Suspending;
  if (typeof OrigSuspending === "function") {
    WebAssembly.Suspending = function Suspending(fn) {
      const holder = { key: null };
      const s = new OrigSuspending(function (...args) { if (holder.key) record(holder.key); return fn.apply(this, args); });
      holders.set(s, holder);
      return s;
    };
  }

  function wrapImports(importObject) {
    if (!importObject || typeof importObject !== "object") return importObject;
    const out = {};
    for (const [mod, fields] of Object.entries(importObject)) {
      out[mod] = fields;
      if (!fields || typeof fields !== "object") continue;
      const copy = Object.create(Object.getPrototypeOf(fields));
      for (const name of Object.keys(fields)) {
        const value = fields[name];
        if (!matches(mod, name)) { copy[name] = value; continue; }
        const key = `${mod}.${name}`;
        if (holders.has(value)) { holders.get(value).key = key; copy[name] = value; }
        else if (typeof value === "function") copy[name] = function (...args) { record(key); return value.apply(this, args); };
        else copy[name] = value;
      }
      out[mod] = copy;
    }
    return out;
  }

  const { instantiate, instantiateStreaming } = WebAssembly;
  WebAssembly.instantiate = function (source, importObject) { return instantiate.call(this, source, wrapImports(importObject)); };
  if (instantiateStreaming) {
    WebAssembly.instantiateStreaming = function (source, importObject) { return instantiateStreaming.call(this, source, wrapImports(importObject)); };
  }
  const OrigInstance = WebAssembly.Instance;
  WebAssembly.Instance = function Instance(module, importObject) { return new OrigInstance(module, wrapImports(importObject)); };
  WebAssembly.Instance.prototype = OrigInstance.prototype;

  process.on("exit", () => { if (stacks.size) write(); });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => { if (stacks.size) write(); process.kill(process.pid, sig); });
  }
}
