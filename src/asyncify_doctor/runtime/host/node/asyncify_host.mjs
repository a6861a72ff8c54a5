// The host side of Asyncify in JavaScript, for node: the same protocol and the same failure kinds
// as wasmtime_host.py, so a list is proven on V8 too.
//
//   node asyncify_host.mjs MODULE.wasm EXPORT [ARG...] [--async env.sleep_ms,env.fetch_value] [--data-size N]
//
// Prints one JSON line: {"ok":true,"value":..,"suspensions":..,"prints":[..]}
//                    or {"ok":false,"kind":..,"message":..,"frames":[..],"suspensions":..,"stack":..}
import { readFileSync } from "node:fs";
import { standardImports } from "./standard_imports.mjs";

const NORMAL = 0, UNWINDING = 1, REWINDING = 2;
const STATE = ["normal", "unwinding", "rewinding"];

class RunError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

function parseArgs(argv) {
  const opts = { async: ["env.sleep_ms", "env.fetch_value", "env.lock_ctl"], dataSize: 1 << 20, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--async") opts.async = argv[++i].split(",").filter(Boolean);
    else if (argv[i] === "--data-size") opts.dataSize = Number(argv[++i]);
    else opts.positional.push(argv[i]);
  }
  return opts;
}

// Wasm frame names from a V8 stack: "at leaf (wasm://wasm/1a2b:wasm-function[3]:0x5c)".
function wasmFrames(stack) {
  const out = [];
  for (const line of String(stack || "").split("\n")) {
    const m = line.match(/^\s*at (?:(\S+) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]/);
    if (m) out.push(m[1] ? m[1].replace(/^.*\.wasm\./, "") : `wasm-function[${m[2]}]`);
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [file, exportName, ...args] = opts.positional;
  const asyncSet = new Set(opts.async);
  const prints = [];
  let exports, dataPtr = 0, pending = null, resume = null, suspensions = 0, failure = null;

  const state = () => (exports.asyncify_get_state ? exports.asyncify_get_state() : NORMAL);
  const fail = (kind, message) => { if (!failure) failure = new RunError(kind, message); throw failure; };
  const impls = standardImports(prints);

  const module = new WebAssembly.Module(readFileSync(file));
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const key = `${imp.module}.${imp.name}`;
    const impl = impls[key];
    if (imp.kind !== "function" || !impl) {
      return { ok: false, kind: "missing-import", message: `the module imports ${key}, which the host was not given`, frames: [] };
    }
    (imports[imp.module] ||= {})[imp.name] = asyncSet.has(key)
      ? (...a) => {
          if (!exports.asyncify_get_state) fail("not-asyncified", `async import ${key} was called, but the module was not asyncified (it has no asyncify_* exports)`);
          const s = state();
          if (s === REWINDING) {
            exports.asyncify_stop_rewind();
            const r = resume; resume = null;
            if (!r || r.key !== key) fail("uninstrumented-frame", `the rewind reached ${key}, but the suspended call was ${r ? r.key : "none"}`);
            return r.value;
          }
          if (s === UNWINDING) fail("uninstrumented-frame", `${key} was called while unwinding`);
          const result = impl(...a);
          if (!(result instanceof Promise)) return result;   // this call answers at once: no unwind
          pending = { key, promise: result };
          suspensions++;
          exports.asyncify_start_unwind(dataPtr);
          return 0;
        }
      : (...a) => {
          const s = state();
          if (s !== NORMAL) fail("uninstrumented-frame", `${key} was called while ${STATE[s]}: a function on the stack is not instrumented and ran again instead of resuming`);
          return impl(...a);
        };
  }
  exports = new WebAssembly.Instance(module, imports).exports;
  if (exports.asyncify_get_state) {
    const pages = Math.ceil(opts.dataSize / 65536);
    dataPtr = exports.memory.grow(pages) * 65536;
    const view = new Int32Array(exports.memory.buffer, dataPtr, 2);
    view[0] = dataPtr + 8; view[1] = dataPtr + opts.dataSize;
  }
  const fn = exports[exportName];
  for (;;) {
    let value;
    try {
      value = fn(...args.map(Number));
    } catch (err) {
      const frames = wasmFrames(err.stack);
      if (failure) return { ok: false, kind: failure.kind, message: failure.message, frames, suspensions, stack: `${failure.kind}: ${failure.message}\n${String(err.stack).split("\n").slice(1).join("\n")}` };
      const s = exports.asyncify_get_state ? state() : NORMAL;
      const room = dataPtr + opts.dataSize - (dataPtr ? new Int32Array(exports.memory.buffer, dataPtr, 1)[0] : 0);
      const kind = s === UNWINDING && pending && room < 512 ? "data-overflow" : "trap";
      const hint = kind === "data-overflow" ? `: only ${room} bytes left in the ${opts.dataSize}-byte asyncify data buffer; make it larger`
        : ` (state: ${STATE[s]})` + (s !== NORMAL ? `; the ${s === UNWINDING ? "unwind" : "rewind"} met code that does not expect it: a function on the stack is probably not instrumented` : "");
      return { ok: false, kind, message: `${err.constructor.name}: ${err.message}${hint}`, frames, suspensions, stack: err.stack };
    }
    const s = state();
    if (s === NORMAL) return { ok: true, value, suspensions, prints };
    if (s === REWINDING) return { ok: false, kind: "rewind-lost", message: `${exportName} returned while still rewinding: the rewind never reached the suspended import again (a function on its stack is not instrumented)`, frames: [], suspensions };
    if (!pending) return { ok: false, kind: "unwind-leak", message: `${exportName} returned while unwinding, but no async import started an unwind`, frames: [], suspensions };
    try {
      exports.asyncify_stop_unwind();   // Binaryen checks current <= end here
    } catch (err) {
      return { ok: false, kind: "data-overflow", message: `asyncify_stop_unwind trapped (${err.message}): the unwound stack did not fit the ${opts.dataSize}-byte data buffer`, frames: wasmFrames(err.stack), suspensions };
    }
    const current = new Int32Array(exports.memory.buffer, dataPtr, 1)[0];
    if (current > dataPtr + opts.dataSize) return { ok: false, kind: "data-overflow", message: `the unwound stack needs ${current - dataPtr} bytes, the buffer has ${opts.dataSize}`, frames: [], suspensions };
    const { key, promise } = pending; pending = null;
    resume = { key, value: await promise };
    exports.asyncify_start_rewind(dataPtr);
  }
}

main().then((r) => { process.stdout.write(JSON.stringify(r) + "\n"); },
            (e) => { process.stdout.write(JSON.stringify({ ok: false, kind: "host-error", message: String(e && e.stack || e), frames: [] }) + "\n"); process.exitCode = 1; });
