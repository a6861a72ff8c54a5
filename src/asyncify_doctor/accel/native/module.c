/* asyncify_doctor.accel._native: the method table of the C twins (native.h says where each lives and
 * where its Python twin is). Loaded only by asyncify_doctor/accel/__init__.py, the seam that decides,
 * at each call, which twin runs. */
#include "native.h"

#define DOC(twin) "The C twin of " twin "; see asyncify_doctor.accel."

static PyMethodDef methods[] = {
    {"scan", native_scan, METH_VARARGS, DOC("decode.code.scan_code_py")},
    {"data", native_data, METH_VARARGS, DOC("decode.code.scan_data_py")},
    {"u32_vec", native_u32_vec, METH_VARARGS, DOC("decode.module.u32_vec_py")},
    {"name_map", native_name_map, METH_VARARGS, DOC("decode.module.name_map_py")},
    {"exports", native_exports, METH_VARARGS, DOC("decode.module.exports_py")},
    {"records", native_records, METH_VARARGS, DOC("decode.module.records_py")},
    {"split", native_split, METH_VARARGS, DOC("graph.callgraph.split_py")},
    {"events_of", native_events_of, METH_VARARGS, DOC("graph.callgraph.events_of_py")},
    {"csr", native_csr, METH_VARARGS, DOC("graph.callgraph.csr_py")},
    {"bfs", native_bfs, METH_VARARGS, DOC("analysis.closure.bfs_py")},
    {"reached_bits", native_reached_bits, METH_VARARGS, DOC("analysis.closure.reached_bits_py")},
    {"closure_rows", native_closure_rows, METH_VARARGS, DOC("analysis.triage.closure_rows_py")},
    {"upto", native_upto, METH_VARARGS, DOC("analysis.triage.upto_py")},
    {"dominated", native_dominated, METH_VARARGS, DOC("analysis.triage.dominated_py")},
    {"reach", native_reach, METH_VARARGS, DOC("analysis.triage.reach_py")},
    {"odd_names", native_odd_names, METH_VARARGS, DOC("lists.names.odd_names_py")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && native_decode_constants(m) < 0) Py_CLEAR(m);
    return m;
}
