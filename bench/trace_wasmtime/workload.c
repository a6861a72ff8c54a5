/* The workload of bench/trace_wasmtime.py: many ordinary calls (fib) between async calls made at
 * growing depth, so the cost of the shadow stack shows per call and per recorded frame. */
#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))
#define KEEP __attribute__((noinline))

IMPORT(fetch_value) int fetch_value(int key);

KEEP int fib(volatile int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

KEEP int mix(int a, int b) { return a + (b & 1); }

KEEP int descend(volatile int depth, int n) {
    if (depth == 0) return fetch_value(fib(n) & 0xff);
    return mix(descend(depth - 1, n), depth);      /* not a tail call: every level stays on the stack */
}

EXPORT(run) int run(void) {
    int sum = 0;
    for (int i = 0; i < 200; i++) sum += descend(i * 5, 16);   /* stacks 2 .. 997 frames deep */
    return sum;
}
