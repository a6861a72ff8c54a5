// The fixtures' standard imports, shared by the Asyncify and the JSPI hosts: sleep_ms and
// fetch_value are async (real timers), print_i32 records values in `prints`.
export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5)));

export function standardImports(prints) {
  return {
    "env.sleep_ms": async (ms) => { await sleep(ms); },
    "env.fetch_value": async (key) => { await sleep(1); return key * 2 + 1; },
    "env.print_i32": (v) => { prints.push(v); },
    // like fcntl on a lock: only command 14 (F_SETLKW) waits; the others answer at once (no promise)
    "env.lock_ctl": (fd, cmd, arg) => (cmd === 14 ? sleep(1).then(() => fd + cmd + arg) : fd + cmd + arg),
  };
}
