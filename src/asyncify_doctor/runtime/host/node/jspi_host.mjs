// A JSPI host for node (run with --experimental-wasm-jspi on node 24): suspending imports are
// wrapped in WebAssembly.Suspending, the exports named by --wrap in WebAssembly.promising — so a
// list from `asyncify-doctor jspi` is proven on V8's real stack switching.
//
//   node --experimental-wasm-jspi jspi_host.mjs MODULE.wasm EXPORT --wrap a,b [--suspending env.sleep_ms,env.fetch_value]
//
// Emscripten-style `env.invoke_*` imports are JS trampolines: invoke_X(index, ...args) calls table
// entry `index` — a JS frame in the middle of the wasm stack, which JSPI cannot suspend across.
// Prints one JSON line: {"ok":true,"value":..,"prints":[..]} or {"ok":false,"kind":..,"message":..}.
import { readFileSync } from "node:fs";
import { standardImports } from "./standard_imports.mjs";

function parseArgs(argv) {
  const o = { wrap: [], suspending: ["env.sleep_ms", "env.fetch_value", "env.lock_ctl"], positional: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--wrap") o.wrap = argv[++i].split(",").filter(Boolean);
    else if (argv[i] === "--suspending") o.suspending = argv[++i].split(",").filter(Boolean);
    else o.positional.push(argv[i]);
  }
  return o;
}

async function main() {
  if (typeof WebAssembly.Suspending !== "function") {
    return { ok: false, kind: "no-jspi", message: "this node has no JSPI: use node >= 24 with --experimental-wasm-jspi" };
  }
  const o = parseArgs(process.argv.slice(2));
  const [file, exportName] = o.positional;
  const prints = [];
  let table = null;
  const impls = standardImports(prints);
  const module = new WebAssembly.Module(readFileSync(file));
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const key = `${imp.module}.${imp.name}`;
    let fn = impls[key];
    if (!fn && imp.name.startsWith("invoke_")) fn = (index, ...args) => table.get(index)(...args);
    if (!fn) return { ok: false, kind: "missing-import", message: `the module imports ${key}, which the host was not given` };
    (imports[imp.module] ||= {})[imp.name] = o.suspending.includes(key) ? new WebAssembly.Suspending(fn) : fn;
  }
  const exports = new WebAssembly.Instance(module, imports).exports;
  table = exports.__indirect_function_table || null;
  const fn = o.wrap.includes(exportName) ? WebAssembly.promising(exports[exportName]) : exports[exportName];
  try {
    const value = await fn();
    return { ok: true, value, prints };
  } catch (err) {
    const kind = err && err.constructor && err.constructor.name === "SuspendError" ? "suspend-error" : "trap";
    return { ok: false, kind, message: `${err.constructor.name}: ${err.message}`, prints };
  }
}

main().then((r) => process.stdout.write(JSON.stringify(r) + "\n"),
            (e) => { process.stdout.write(JSON.stringify({ ok: false, kind: "host-error", message: String(e && e.stack || e) }) + "\n"); process.exitCode = 1; });
