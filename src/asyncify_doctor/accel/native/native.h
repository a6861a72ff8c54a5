/* The C twins of asyncify-doctor's long loops: one optional extension, asyncify_doctor.accel._native,
 * built from one source per stage — decode.c (the code scanner, the data section, the long vectors of
 * the module sections, the Function records), graph.c (call graph, closure and triage kernels),
 * lists.c (list names) — and module.c (the method table). Each function has a pure-Python twin,
 * registered next to it with `accel.twin` (see asyncify_doctor/accel/__init__.py); the seam there
 * decides which runs, and tests/test_accel.py holds every pair equal.
 * Kept deliberately plain: no Python calls inside the loops, errors returned as values or raised as
 * ValueError/MemoryError before any result is made. */
#ifndef ASYNCIFY_DOCTOR_NATIVE_H
#define ASYNCIFY_DOCTOR_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define HIDDEN __attribute__((visibility("hidden")))   /* shared by the sources, not exported */
#else
#define HIDDEN
#endif
#define KERNEL HIDDEN PyObject *   /* a method of the module: (self, args) -> result or NULL */

/* The scanner's events (decode/opcodes.py's EV_*, the same numbers: module.c exports them and
 * tests/test_accel.py compares), read by the graph kernels too. */
enum { EV_NONE = 0, EV_CALL = 1, EV_CALL_INDIRECT = 2, EV_CALL_REF = 3, EV_REF_FUNC = 4,
       EV_GLOBAL_GET = 5, EV_GLOBAL_SET = 6, EV_END = 10, EV_DATA = 11, EV_CALL_CHECK = 12, EV_TAIL = 16 };

/* A new bytes object of n native-endian u32s, *out pointing at them; NULL (MemoryError) if it cannot. */
static inline PyObject *new_u32s(size_t n, uint32_t **out) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    if (b) *out = (uint32_t *)PyBytes_AS_STRING(b);
    return b;
}

/* decode.c — twins in decode/code.py and decode/module.py */
KERNEL native_scan(PyObject *self, PyObject *args);
KERNEL native_data(PyObject *self, PyObject *args);
KERNEL native_u32_vec(PyObject *self, PyObject *args);
KERNEL native_name_map(PyObject *self, PyObject *args);
KERNEL native_exports(PyObject *self, PyObject *args);
KERNEL native_records(PyObject *self, PyObject *args);
HIDDEN int native_decode_constants(PyObject *module);   /* the numbers it shares with decode/opcodes.py */

/* graph.c — twins in graph/callgraph.py, analysis/closure.py and analysis/triage.py */
KERNEL native_split(PyObject *self, PyObject *args);
KERNEL native_events_of(PyObject *self, PyObject *args);
KERNEL native_csr(PyObject *self, PyObject *args);
KERNEL native_bfs(PyObject *self, PyObject *args);
KERNEL native_reached_bits(PyObject *self, PyObject *args);
KERNEL native_closure_rows(PyObject *self, PyObject *args);
KERNEL native_upto(PyObject *self, PyObject *args);
KERNEL native_dominated(PyObject *self, PyObject *args);
KERNEL native_reach(PyObject *self, PyObject *args);

/* lists.c — twin in lists/names.py */
KERNEL native_odd_names(PyObject *self, PyObject *args);

#endif
