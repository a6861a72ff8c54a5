/* The list kernel: which names of a list need a second look (lists/names.py, twin: its regex). */
#include "native.h"

/* The names of a list that are not plain (letters, digits, `_`, `$`; empty names included): only
   these can be read otherwise by a list's consumers (lists.odd_names, twin: its regex). */
KERNEL native_odd_names(PyObject *self, PyObject *args) {
    PyObject *names;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &names)) return NULL;
    static unsigned char plain[256];
    if (!plain['_']) {
        for (int c = '0'; c <= '9'; c++) plain[c] = 1;
        for (int c = 'a'; c <= 'z'; c++) plain[c] = plain[c - 'a' + 'A'] = 1;
        plain['_'] = plain['$'] = 1;
    }
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
        PyObject *n = PyList_GET_ITEM(names, i);
        if (!PyUnicode_Check(n)) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_TypeError, "names must be str");
            return NULL;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(n);
        int odd = len == 0 || !PyUnicode_IS_ASCII(n);
        const unsigned char *c = odd ? NULL : PyUnicode_1BYTE_DATA(n);
        for (Py_ssize_t k = 0; !odd && k < len; k++) odd = !plain[c[k]];
        if (odd && PyList_Append(out, n) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}
