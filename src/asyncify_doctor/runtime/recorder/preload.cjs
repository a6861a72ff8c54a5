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
  const regexes = PATTERNS.map((p) => [p.includes("."), wildcard(p)]);
  const matches = (module, name) => regexes.some(([dotted, re]) => re.test(dotted ? `${module}.${name}` : name));
  const stacks = new Map();
  let threadId = 0;
  try { threadId = require("node:worker_threads").threadId; } catch { /* no workers */ }
  const file = path.join(DIR, `${process.pid}-${threadId}.json`);
  const FRAME = /at (?:(\S+) \()?wasm:\/\/wasm\/([^:\s)]*):wasm-function\[(\d+)\]:0x([0-9a-f]+)/;

  // The whole stack, however deep, as V8's structured call sites (no text is made for a stack seen
  // before): the limit and the formatter are swapped for this one capture only, so the program's own
  // errors keep their usual traces.
  const asSites = (_, sites) => sites;
  function callSites() {
    const limit = Error.stackTraceLimit, prepare = Error.prepareStackTrace;
    Error.stackTraceLimit = Infinity;
    Error.prepareStackTrace = asSites;
    try {
      const holder = {};
      Error.captureStackTrace(holder, record);
      return holder.stack;
    } finally {
      Error.stackTraceLimit = limit;
      Error.prepareStackTrace = prepare;
    }
  }

  // A stack's cheap key is where each wasm frame is (module and byte position); only the first time a
  // key is seen are its frames formatted and parsed into function indices and names (as V8 prints
  // them: `at name (wasm://wasm/module:wasm-function[index]:0xoffset)`).
  const byPlace = new Map();
  function record(key) {
    const wasm = [], where = [key];
    let last = null;
    for (const site of callSites()) {
      const script = site.getScriptNameOrSourceURL();
      if (script && script.startsWith("wasm://")) {
        wasm.push(site);
        if (script !== last) where.push(last = script);
        where.push(site.getColumnNumber());
      }
    }
    const place = where.join("|");
    const known = byPlace.get(place);
    if (known) { known.count++; return; }
    const frames = [];
    let module = null;
    for (const site of wasm) {
      const m = FRAME.exec("at " + site);
      if (!m) continue;
      module = module || m[2];
      let name = m[1] || null;
      if (name && name.startsWith(m[2].replace(/-[0-9a-f]+$/, "") + ".")) name = name.slice(m[2].replace(/-[0-9a-f]+$/, "").length + 1);
      frames.push({ name, index: Number(m[3]) });
    }
    const id = key + "|" + (module || "") + "|" + frames.map((f) => f.index).join(",");
    const seen = stacks.get(id);
    if (seen) { seen.count++; byPlace.set(place, seen); return; }
    const stack = { import: key, module, frames, count: 1 };
    stacks.set(id, stack);
    byPlace.set(place, stack);
    append(stack);   // each new stack is on disk at once: survives a crash or a kill
  }

  // The file is valid JSON after every write: a new stack is written over the closing "]}" and
  // closes the document again (one write, which a kill cannot split), so each stack costs its own
  // size, not the whole file's. At exit the file is rewritten once with the final counts.
  let fd = null;
  let tail = 0;
  function append(stack) {
    const body = JSON.stringify(stack);
    if (fd === null) {
      const head = JSON.stringify({ pid: process.pid, thread: threadId, argv: process.argv }).slice(0, -1) + ',"stacks":[';
      fd = fs.openSync(file, "w");
      fs.writeSync(fd, head + body + "]}", 0);
      tail = Buffer.byteLength(head + body);
    } else {
      const text = "," + body;
      fs.writeSync(fd, text + "]}", tail);
      tail += Buffer.byteLength(text);
    }
  }

  function write() {
    const tmp = file + ".tmp";
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, thread: threadId, argv: process.argv, stacks: [...stacks.values()] }));
    fs.renameSync(tmp, file);
  }

  // Suspending objects cannot be unwrapped, so the function inside is wrapped when one is made; its
  // import key is filled in when the import object is read. Proxies keep `instanceof` working.
  const holders = new WeakMap();
  const OrigSuspending = WebAssembly.Suspending;
  if (typeof OrigSuspending === "function") {
    WebAssembly.Suspending = new Proxy(OrigSuspending, {
      construct(target, [fn, ...rest], newTarget) {
        const holder = { key: null };
        const s = Reflect.construct(target, [function (...args) { if (holder.key) record(holder.key); return fn.apply(this, args); }, ...rest], newTarget);
        holders.set(s, holder);
        return s;
      },
    });
  }

  // Import objects are wrapped with proxies, not copied: Emscripten's dynamic linking resolves some
  // symbols lazily through its own proxies, which a copy would lose.
  const wrappedFns = new WeakMap();
  function wrapValue(key, value) {
    if (holders.has(value)) {
      const holder = holders.get(value);
      if (!holder.key) holder.key = key;   // Emscripten hands one object to env and wasi: first wins (env)
      return value;
    }
    if (typeof value !== "function") return value;
    let w = wrappedFns.get(value);
    if (!w) {
      w = function (...args) { record(key); return value.apply(this, args); };
      Object.defineProperties(w, Object.getOwnPropertyDescriptors(value));
      wrappedFns.set(value, w);
    }
    return w;
  }

  function wrapImports(importObject) {
    if (!importObject || typeof importObject !== "object") return importObject;
    return new Proxy(importObject, {
      get(target, mod, receiver) {
        const fields = Reflect.get(target, mod, receiver);
        if (typeof mod !== "string" || !fields || typeof fields !== "object") return fields;
        return new Proxy(fields, {
          get(t, name, r) {
            const value = Reflect.get(t, name, r);
            return typeof name === "string" && matches(mod, name) ? wrapValue(`${mod}.${name}`, value) : value;
          },
        });
      },
    });
  }

  const { instantiate, instantiateStreaming } = WebAssembly;
  WebAssembly.instantiate = function (source, importObject) { return instantiate.call(this, source, wrapImports(importObject)); };
  if (instantiateStreaming) {
    WebAssembly.instantiateStreaming = function (source, importObject) { return instantiateStreaming.call(this, source, wrapImports(importObject)); };
  }
  WebAssembly.Instance = new Proxy(WebAssembly.Instance, {
    construct(target, [module, importObject], newTarget) { return Reflect.construct(target, [module, wrapImports(importObject)], newTarget); },
  });

  process.on("exit", () => { if (stacks.size) write(); });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => { if (stacks.size) write(); process.kill(process.pid, sig); });
  }
}
