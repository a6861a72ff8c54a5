/* The graph kernels: the call graph's edges as compressed rows (graph/callgraph.py), the closure's
 * breadth-first search and --stats' reached bits (analysis/closure.py), the audit triage's rows,
 * dominators and reach counts (analysis/triage.py). Each has its pure-Python twin there.
 * Graphs are compressed rows: row v is `targets[offsets[v]:offsets[v + 1]]`. */
#include "native.h"

/* split(events) -> (call sources, call targets, other events): the direct calls (call and return_call)
 * of the (function, event, a, b) quads as two u32 arrays, and the other events that shape the graph
 * (all but global reads and writes) as quads. */
KERNEL native_split(PyObject *self, PyObject *args) {
    Py_buffer ev;
    if (!PyArg_ParseTuple(args, "y*", &ev)) return NULL;
    const uint32_t *e = ev.buf;
    size_t n = (size_t)ev.len / 16, calls = 0;
    size_t globals = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = e[4 * i + 1] & ~EV_TAIL;
        calls += k == EV_CALL;
        globals += k == EV_GLOBAL_GET || k == EV_GLOBAL_SET;
    }
    uint32_t *src = NULL, *dst = NULL, *rest = NULL;
    PyObject *a = new_u32s(calls, &src), *b = new_u32s(calls, &dst), *c = new_u32s(4 * (n - calls - globals), &rest);
    PyObject *result = NULL;
    if (a && b && c) {
        size_t j = 0, k = 0;
        for (size_t i = 0; i < n; i++) {
            const uint32_t *q = e + 4 * i;
            uint32_t kind = q[1] & ~EV_TAIL;
            if (kind == EV_CALL) { src[j] = q[0]; dst[j++] = q[2]; }
            else if (kind != EV_GLOBAL_GET && kind != EV_GLOBAL_SET) { memcpy(rest + 4 * k++, q, 16); }
        }
        result = PyTuple_Pack(3, a, b, c);
    }
    Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c);
    PyBuffer_Release(&ev);
    return result;
}

/* events_of(events, kind, a, b) -> the quads of exactly that event kind whose a and b are the given
 * ones (-1: any), in order (callgraph.py's events_of_py). */
KERNEL native_events_of(PyObject *self, PyObject *args) {
    Py_buffer ev;
    unsigned int kind;
    long long want_a, want_b;
    if (!PyArg_ParseTuple(args, "y*ILL", &ev, &kind, &want_a, &want_b)) return NULL;
    const uint32_t *e = ev.buf;
    size_t n = (size_t)ev.len / 16, hits = 0;
    for (int pass = 0; pass < 2; pass++) {   /* count, then copy */
        uint32_t *out = NULL;
        PyObject *result = pass ? new_u32s(4 * hits, &out) : NULL;
        if (pass && !result) break;
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            const uint32_t *q = e + 4 * i;
            if (q[1] != kind || (want_a >= 0 && q[2] != want_a) || (want_b >= 0 && q[3] != want_b)) continue;
            if (pass) memcpy(out + 4 * j, q, 16);
            j++;
        }
        if (pass) { PyBuffer_Release(&ev); return result; }
        hits = j;
    }
    PyBuffer_Release(&ev);
    return NULL;
}

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* csr(src, dst, n) -> (offsets [n + 1], targets): the edges src[i] -> dst[i] as rows per source,
 * each row ascending without duplicates (callgraph.py's csr_py). Sources must be < n. */
KERNEL native_csr(PyObject *self, PyObject *args) {
    Py_buffer sb, db;
    unsigned int n;
    if (!PyArg_ParseTuple(args, "y*y*I", &sb, &db, &n)) return NULL;
    PyObject *result = NULL, *offs = NULL, *tgts = NULL;
    size_t m = (size_t)sb.len / 4;
    const uint32_t *src = sb.buf, *dst = db.buf;
    uint32_t *off = NULL, *fill = NULL, *tmp = NULL, *tgt;
    if ((size_t)db.len / 4 != m) { PyErr_SetString(PyExc_ValueError, "csr: arrays differ in length"); goto out; }
    for (size_t i = 0; i < m; i++)
        if (src[i] >= n) { PyErr_SetString(PyExc_ValueError, "csr: source out of range"); goto out; }
    off = calloc((size_t)n + 1, 4); fill = calloc((size_t)n + 1, 4); tmp = malloc(m ? m * 4 : 4);
    if (!off || !fill || !tmp) { PyErr_NoMemory(); goto out; }
    for (size_t i = 0; i < m; i++) off[src[i] + 1]++;
    for (size_t v = 0; v < n; v++) off[v + 1] += off[v];
    memcpy(fill, off, ((size_t)n + 1) * 4);
    for (size_t i = 0; i < m; i++) tmp[fill[src[i]]++] = dst[i];
    size_t w = 0;
    for (size_t v = 0; v < n; v++) {  /* sort each row, drop duplicates, compact in place */
        uint32_t lo = off[v], hi = off[v + 1];
        if (hi - lo > 1) qsort(tmp + lo, hi - lo, 4, cmp_u32);
        off[v] = (uint32_t)w;
        for (uint32_t i = lo; i < hi; i++)
            if (i == lo || tmp[i] != tmp[i - 1]) tmp[w++] = tmp[i];
    }
    off[n] = (uint32_t)w;
    offs = PyBytes_FromStringAndSize((const char *)off, ((Py_ssize_t)n + 1) * 4);
    tgts = new_u32s(w, &tgt);
    if (offs && tgts) {
        memcpy(tgt, tmp, w * 4);
        result = PyTuple_Pack(2, offs, tgts);
    }
out:
    Py_XDECREF(offs); Py_XDECREF(tgts);
    free(off); free(fill); free(tmp);
    PyBuffer_Release(&sb); PyBuffer_Release(&db);
    return result;
}

/* bfs(offsets, targets, sources, roots) -> next hop per node (int32): the multi-source breadth-first
 * search of analysis.py's bfs_py over rows `targets[offsets[v]:offsets[v + 1]]`. Sources point to
 * themselves, roots to -1, unreached nodes hold -2; queue order and row order decide ties. */
KERNEL native_bfs(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, sb, rb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &ob, &tb, &sb, &rb)) return NULL;
    PyObject *result = NULL;
    size_t n = (size_t)ob.len / 4 - 1, nt = (size_t)tb.len / 4;
    const uint32_t *off = ob.buf, *tgt = tb.buf, *srcs = sb.buf, *roots = rb.buf;
    size_t ns = (size_t)sb.len / 4, nr = (size_t)rb.len / 4;
    int32_t *next;
    uint32_t *queue = malloc((n ? n : 1) * 4);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    if (!queue || !out) { if (!queue) PyErr_NoMemory(); goto done; }
    next = (int32_t *)PyBytes_AS_STRING(out);
    for (size_t v = 0; v < n; v++) next[v] = -2;
    if (off[n] > nt) { PyErr_SetString(PyExc_ValueError, "bfs: offsets past the targets"); goto done; }
    for (size_t v = 0; v < nt; v++)
        if (tgt[v] >= n) { PyErr_SetString(PyExc_ValueError, "bfs: target out of range"); goto done; }
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < ns; i++)
        if (srcs[i] < n && next[srcs[i]] == -2) { next[srcs[i]] = (int32_t)srcs[i]; queue[tail++] = srcs[i]; }
    for (size_t i = 0; i < nr; i++)
        if (roots[i] < n && next[roots[i]] == -2) { next[roots[i]] = -1; queue[tail++] = roots[i]; }
    while (head < tail) {
        uint32_t v = queue[head++];
        for (uint32_t i = off[v]; i < off[v + 1]; i++) {
            uint32_t c = tgt[i];
            if (next[c] == -2) { next[c] = (int32_t)v; queue[tail++] = c; }
        }
    }
    result = out; out = NULL;
done:
    Py_XDECREF(out);
    free(queue);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&sb); PyBuffer_Release(&rb);
    return result;
}

/* --- the audit triage's graph work (triage.py has the pure-Python twins), and --stats' reached bits --- */

#if defined(__GNUC__) || defined(__clang__)
#define POPCOUNT64(x) ((uint32_t)__builtin_popcountll(x))
#else
static inline uint32_t POPCOUNT64(uint64_t x) { uint32_t c = 0; while (x) { x &= x - 1; c++; } return c; }
#endif

/* The rows' node count, after checking that offsets ascend within the targets and every target is a
 * node; (size_t)-1 with a ValueError otherwise. */
static size_t check_rows(const char *who, Py_buffer *ob, Py_buffer *tb) {
    char msg[80];
    if (ob->len < 4 || ob->len % 4 || tb->len % 4) {
        snprintf(msg, sizeof msg, "%s: malformed rows", who);
        PyErr_SetString(PyExc_ValueError, msg);
        return (size_t)-1;
    }
    size_t n = (size_t)ob->len / 4 - 1, nt = (size_t)tb->len / 4;
    const uint32_t *off = ob->buf, *tgt = tb->buf;
    int bad = off[n] > nt;
    for (size_t v = 0; v < n && !bad; v++) bad = off[v] > off[v + 1];
    for (size_t i = bad ? nt : off[0]; i < off[n] && !bad; i++) bad = tgt[i] >= n;
    if (bad) {
        snprintf(msg, sizeof msg, "%s: rows out of range", who);
        PyErr_SetString(PyExc_ValueError, msg);
        return (size_t)-1;
    }
    return n;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* closure_rows(offsets, targets, nodes, ids, from_level, to_level, extra_dst, extra_src, extra_level)
 *   -> (offsets, targets, levels)
 * The rows of the nodes kept by `ids` (int32 per node, -1 = left out) renumbered: new row k is old row
 * nodes[k] (none if nodes[k] < 0) with its kept targets t as ids[t], each with the level
 * max(from_level[t], to_level[nodes[k]]), plus the extra edges (extra_src[e] in row extra_dst[e], with
 * extra_level[e]); each row ascending, a target listed twice keeping its lowest level. */
KERNEL native_closure_rows(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, nb, ib, fb, lb, xd, xs, xl;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*", &ob, &tb, &nb, &ib, &fb, &lb, &xd, &xs, &xl)) return NULL;
    PyObject *result = NULL, *po = NULL, *pt = NULL, *pl = NULL;
    uint32_t *xoff = NULL, *xsrc = NULL, *out_off = NULL, *out_tgt = NULL;
    uint8_t *xlvl = NULL, *out_lvl = NULL;
    uint64_t *tmp = NULL;
    size_t n = check_rows("closure_rows", &ob, &tb);
    if (n == (size_t)-1) goto out;
    const uint32_t *off = ob.buf, *tgt = tb.buf, *xdst = xd.buf, *xsr = xs.buf;
    const int32_t *nodes = nb.buf, *ids = ib.buf;
    const uint8_t *from = fb.buf, *to = lb.buf, *xlv = xl.buf;
    size_t k_rows = (size_t)nb.len / 4, nx = (size_t)xd.len / 4;
    if ((size_t)ib.len != 4 * n || (size_t)fb.len != n || (size_t)lb.len != n || (size_t)xs.len != 4 * nx
        || (size_t)xl.len != nx || nb.len % 4) {
        PyErr_SetString(PyExc_ValueError, "closure_rows: arrays differ in length"); goto out;
    }
    for (size_t k = 0; k < k_rows; k++)
        if (nodes[k] >= (int32_t)n) { PyErr_SetString(PyExc_ValueError, "closure_rows: node out of range"); goto out; }
    for (size_t v = 0; v < n; v++)
        if (ids[v] >= (int32_t)k_rows) { PyErr_SetString(PyExc_ValueError, "closure_rows: id out of range"); goto out; }
    for (size_t e = 0; e < nx; e++)
        if (xdst[e] >= k_rows || xsr[e] >= k_rows) { PyErr_SetString(PyExc_ValueError, "closure_rows: extra edge out of range"); goto out; }
    xoff = calloc(k_rows + 1, 4); xsrc = malloc((nx ? nx : 1) * 4); xlvl = malloc(nx ? nx : 1);
    out_off = malloc((k_rows + 1) * 4);
    if (!xoff || !xsrc || !xlvl || !out_off) { PyErr_NoMemory(); goto out; }
    for (size_t e = 0; e < nx; e++) xoff[xdst[e] + 1]++;
    for (size_t k = 0; k < k_rows; k++) xoff[k + 1] += xoff[k];
    size_t bound = nx, widest = 0;
    {   /* extras grouped by row (stable), and an upper bound of the output */
        uint32_t *fill = malloc((k_rows + 1) * 4);
        if (!fill) { PyErr_NoMemory(); goto out; }
        memcpy(fill, xoff, (k_rows + 1) * 4);
        for (size_t e = 0; e < nx; e++) { uint32_t at = fill[xdst[e]]++; xsrc[at] = xsr[e]; xlvl[at] = xlv[e]; }
        free(fill);
    }
    for (size_t k = 0; k < k_rows; k++) {
        size_t w = (size_t)(xoff[k + 1] - xoff[k]);
        if (nodes[k] >= 0) w += off[nodes[k] + 1] - off[nodes[k]];
        bound += w - (size_t)(xoff[k + 1] - xoff[k]);
        if (w > widest) widest = w;
    }
    out_tgt = malloc((bound ? bound : 1) * 4); out_lvl = malloc(bound ? bound : 1); tmp = malloc((widest ? widest : 1) * 8);
    if (!out_tgt || !out_lvl || !tmp) { PyErr_NoMemory(); goto out; }
    size_t w = 0;
    for (size_t k = 0; k < k_rows; k++) {
        size_t start = w;
        int sorted = 1;
        out_off[k] = (uint32_t)w;
        if (nodes[k] >= 0) {
            uint32_t v = (uint32_t)nodes[k];
            for (uint32_t i = off[v]; i < off[v + 1]; i++) {
                int32_t id = ids[tgt[i]];
                if (id < 0) continue;
                if (w > start && (uint32_t)id <= out_tgt[w - 1]) sorted = 0;
                out_tgt[w] = (uint32_t)id;
                out_lvl[w++] = from[tgt[i]] > to[v] ? from[tgt[i]] : to[v];
            }
        }
        for (uint32_t e = xoff[k]; e < xoff[k + 1]; e++) {
            if (w > start && xsrc[e] <= out_tgt[w - 1]) sorted = 0;
            out_tgt[w] = xsrc[e];
            out_lvl[w++] = xlvl[e];
        }
        if (!sorted) {   /* sort by (target, level) and keep each target's first: its lowest level */
            size_t m = w - start, u = 0;
            for (size_t i = 0; i < m; i++) tmp[i] = ((uint64_t)out_tgt[start + i] << 8) | out_lvl[start + i];
            qsort(tmp, m, 8, cmp_u64);
            w = start;
            for (size_t i = 0; i < m; i++) {
                if (u && (uint32_t)(tmp[i] >> 8) == out_tgt[w - 1]) continue;
                out_tgt[w] = (uint32_t)(tmp[i] >> 8);
                out_lvl[w++] = (uint8_t)(tmp[i] & 0xFF);
                u = 1;
            }
        }
    }
    out_off[k_rows] = (uint32_t)w;
    po = PyBytes_FromStringAndSize((const char *)out_off, (Py_ssize_t)(k_rows + 1) * 4);
    pt = PyBytes_FromStringAndSize((const char *)out_tgt, (Py_ssize_t)w * 4);
    pl = PyBytes_FromStringAndSize((const char *)out_lvl, (Py_ssize_t)w);
    if (po && pt && pl) result = PyTuple_Pack(3, po, pt, pl);
out:
    Py_XDECREF(po); Py_XDECREF(pt); Py_XDECREF(pl);
    free(xoff); free(xsrc); free(xlvl); free(out_off); free(out_tgt); free(out_lvl); free(tmp);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&nb); PyBuffer_Release(&ib); PyBuffer_Release(&fb);
    PyBuffer_Release(&lb); PyBuffer_Release(&xd); PyBuffer_Release(&xs); PyBuffer_Release(&xl);
    return result;
}

/* upto(offsets, targets, levels, max_level) -> (offsets, targets): the rows with only the edges whose
 * level is at most max_level. */
KERNEL native_upto(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, lb;
    int max_level;
    if (!PyArg_ParseTuple(args, "y*y*y*i", &ob, &tb, &lb, &max_level)) return NULL;
    PyObject *result = NULL, *po = NULL, *pt = NULL;
    size_t n = check_rows("upto", &ob, &tb);
    if (n == (size_t)-1) goto out;
    if ((size_t)lb.len != (size_t)tb.len / 4) { PyErr_SetString(PyExc_ValueError, "upto: arrays differ in length"); goto out; }
    const uint32_t *off = ob.buf, *tgt = tb.buf;
    const uint8_t *lvl = lb.buf;
    size_t kept = 0;
    for (uint32_t i = off[0]; i < off[n]; i++) kept += lvl[i] <= max_level;
    uint32_t *o, *t;
    po = new_u32s(n + 1, &o); pt = new_u32s(kept, &t);
    if (!po || !pt) goto out;
    size_t w = 0;
    for (size_t v = 0; v < n; v++) {
        o[v] = (uint32_t)w;
        for (uint32_t i = off[v]; i < off[v + 1]; i++)
            if (lvl[i] <= max_level) t[w++] = tgt[i];
    }
    o[n] = (uint32_t)w;
    result = PyTuple_Pack(2, po, pt);
out:
    Py_XDECREF(po); Py_XDECREF(pt);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&lb);
    return result;
}

/* The node's rows reversed (predecessors), for the nodes with mark[v] only; each row ascending. */
static int transpose(size_t n, const uint32_t *off, const uint32_t *tgt, const uint8_t *mark,
                     uint32_t **poff, uint32_t **ptgt) {
    uint32_t *o = calloc(n + 1, 4), *t = NULL, *fill = NULL;
    size_t m = 0;
    if (!o) return -1;
    for (size_t v = 0; v < n; v++)
        if (mark[v]) for (uint32_t i = off[v]; i < off[v + 1]; i++) { o[tgt[i] + 1]++; m++; }
    for (size_t v = 0; v < n; v++) o[v + 1] += o[v];
    t = malloc((m ? m : 1) * 4); fill = malloc((n + 1) * 4);
    if (!t || !fill) { free(o); free(t); free(fill); return -1; }
    memcpy(fill, o, (n + 1) * 4);
    for (size_t v = 0; v < n; v++)
        if (mark[v]) for (uint32_t i = off[v]; i < off[v + 1]; i++) t[fill[tgt[i]]++] = (uint32_t)v;
    free(fill);
    *poff = o; *ptgt = t;
    return 0;
}

/* dominated(offsets, targets, root, weights) -> int32 per node: the sum of weights (u8 per node) over
 * the nodes it dominates, itself included, in the graph of the rows from `root` (Cooper, Harvey and
 * Kennedy's iterative algorithm over a depth-first postorder); a node the root cannot reach: its own. */
KERNEL native_dominated(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, wb;
    unsigned int root;
    if (!PyArg_ParseTuple(args, "y*y*Iy*", &ob, &tb, &root, &wb)) return NULL;
    PyObject *result = NULL, *out = NULL;
    uint32_t *post = NULL, *stack_v = NULL, *stack_e = NULL, *poff = NULL, *ptgt = NULL;
    int32_t *num = NULL, *idom = NULL;
    uint8_t *seen = NULL;
    size_t n = check_rows("dominated", &ob, &tb);
    if (n == (size_t)-1) goto done;
    if ((size_t)wb.len != n || root >= n) { PyErr_SetString(PyExc_ValueError, "dominated: bad root or weights"); goto done; }
    const uint32_t *off = ob.buf, *tgt = tb.buf;
    const uint8_t *weight = wb.buf;
    post = malloc(n * 4); stack_v = malloc(n * 4); stack_e = malloc(n * 4);
    num = malloc(n * 4); idom = malloc(n * 4); seen = calloc(n, 1);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    if (!post || !stack_v || !stack_e || !num || !idom || !seen || !out) { if (out) PyErr_NoMemory(); goto done; }
    size_t np = 0, sp = 0;
    seen[root] = 1; stack_v[sp] = root; stack_e[sp++] = off[root];
    while (sp) {   /* depth-first postorder from the root */
        uint32_t v = stack_v[sp - 1];
        if (stack_e[sp - 1] < off[v + 1]) {
            uint32_t c = tgt[stack_e[sp - 1]++];
            if (!seen[c]) { seen[c] = 1; stack_v[sp] = c; stack_e[sp++] = off[c]; }
            continue;
        }
        sp--;
        post[np++] = v;
    }
    for (size_t v = 0; v < n; v++) { num[v] = -1; idom[v] = -1; }
    for (size_t k = 0; k < np; k++) num[post[k]] = (int32_t)k;
    if (transpose(n, off, tgt, seen, &poff, &ptgt)) { PyErr_NoMemory(); goto done; }
    idom[root] = (int32_t)root;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t k = np - 1; k-- > 0;) {   /* reverse postorder, the root left out */
            uint32_t b = post[k];
            int32_t nw = -1;
            for (uint32_t i = poff[b]; i < poff[b + 1]; i++) {
                int32_t p = (int32_t)ptgt[i];
                if (idom[p] == -1) continue;
                if (nw == -1) { nw = p; continue; }
                while (p != nw) {
                    while (num[p] < num[nw]) p = idom[p];
                    while (num[nw] < num[p]) nw = idom[nw];
                }
            }
            if (idom[b] != nw) { idom[b] = nw; changed = 1; }
        }
    }
    int32_t *count = (int32_t *)PyBytes_AS_STRING(out);
    for (size_t v = 0; v < n; v++) count[v] = weight[v];
    for (size_t k = 0; k < np; k++)   /* a node's dominated nodes come before it in postorder */
        if (post[k] != root) count[idom[post[k]]] += count[post[k]];
    result = out; out = NULL;
done:
    Py_XDECREF(out);
    free(post); free(stack_v); free(stack_e); free(num); free(idom); free(seen); free(poff); free(ptgt);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&wb);
    return result;
}

/* Tarjan's strongly connected components, iteratively: comp[v], numbered in the order they complete
 * (a component after every component it reaches); the number of components, or -1 out of memory. */
static long sccs(size_t n, const uint32_t *off, const uint32_t *tgt, uint32_t *comp) {
    uint32_t *index = calloc(n ? n : 1, 4), *low = malloc((n ? n : 1) * 4), *stack = malloc((n ? n : 1) * 4);
    uint32_t *work_v = malloc((n ? n : 1) * 4), *work_e = malloc((n ? n : 1) * 4);
    uint8_t *on = calloc(n ? n : 1, 1);
    long nc = -1;
    if (!index || !low || !stack || !work_v || !work_e || !on) goto done;
    uint32_t counter = 1;
    size_t sp = 0, wp = 0;
    nc = 0;
    for (size_t r = 0; r < n; r++) {
        if (index[r]) continue;
        index[r] = low[r] = counter++; stack[sp++] = (uint32_t)r; on[r] = 1;
        work_v[wp] = (uint32_t)r; work_e[wp++] = off[r];
        while (wp) {
            uint32_t v = work_v[wp - 1];
            if (work_e[wp - 1] < off[v + 1]) {
                uint32_t w = tgt[work_e[wp - 1]++];
                if (!index[w]) {
                    index[w] = low[w] = counter++; stack[sp++] = w; on[w] = 1;
                    work_v[wp] = w; work_e[wp++] = off[w];
                } else if (on[w] && index[w] < low[v]) low[v] = index[w];
                continue;
            }
            wp--;
            if (wp && low[v] < low[work_v[wp - 1]]) low[work_v[wp - 1]] = low[v];
            if (low[v] == index[v]) {
                uint32_t w;
                do { w = stack[--sp]; on[w] = 0; comp[w] = (uint32_t)nc; } while (w != v);
                nc++;
            }
        }
    }
done:
    free(index); free(low); free(stack); free(work_v); free(work_e); free(on);
    return nc;
}

/* The nodes of each component, as rows: component c's are mem[moff[c]:moff[c + 1]], ascending
 * (moff: nc + 1 zeroed entries); -1 out of memory. */
static int group_members(size_t n, const uint32_t *comp, long nc, uint32_t *moff, uint32_t *mem) {
    uint32_t *fill = malloc(((size_t)nc + 1) * 4);
    if (!fill) return -1;
    for (size_t v = 0; v < n; v++) moff[comp[v] + 1]++;
    for (long c = 0; c < nc; c++) moff[c + 1] += moff[c];
    memcpy(fill, moff, ((size_t)nc + 1) * 4);
    for (size_t v = 0; v < n; v++) mem[fill[comp[v]]++] = (uint32_t)v;
    free(fill);
    return 0;
}

#define REACH_WORDS 16   /* 1,024 marked nodes per pass over the graph */

/* reach(offsets, targets, weights) -> int32 per node: how many marked nodes (weights[v] != 0, u8 per
 * node) the node reaches along the rows, itself included. Bitsets over the marked nodes, REACH_WORDS
 * words at a time, pulled along the components in the order they complete (reached ones first). */
KERNEL native_reach(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, wb;
    if (!PyArg_ParseTuple(args, "y*y*y*", &ob, &tb, &wb)) return NULL;
    PyObject *result = NULL, *out = NULL;
    uint32_t *comp = NULL, *moff = NULL, *mem = NULL, *pc = NULL;
    int64_t *mark = NULL;
    uint64_t *bits = NULL;
    size_t n = check_rows("reach", &ob, &tb);
    if (n == (size_t)-1) goto done;
    if ((size_t)wb.len != n) { PyErr_SetString(PyExc_ValueError, "reach: weights differ in length"); goto done; }
    const uint32_t *off = ob.buf, *tgt = tb.buf;
    const uint8_t *weight = wb.buf;
    size_t n1 = n ? n : 1;
    comp = malloc(n1 * 4); mark = malloc(n1 * 8); mem = malloc(n1 * 4);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    if (!comp || !mark || !mem || !out) { if (out) PyErr_NoMemory(); goto done; }
    long nc = sccs(n, off, tgt, comp);
    if (nc < 0) { PyErr_NoMemory(); goto done; }
    moff = calloc((size_t)nc + 1, 4); pc = calloc((size_t)nc ? (size_t)nc : 1, 4);
    bits = malloc(((size_t)nc ? (size_t)nc : 1) * REACH_WORDS * 8);
    if (!moff || !pc || !bits) { PyErr_NoMemory(); goto done; }
    if (group_members(n, comp, nc, moff, mem)) { PyErr_NoMemory(); goto done; }
    int64_t marked = 0;
    for (size_t v = 0; v < n; v++) mark[v] = weight[v] ? marked++ : -1;
    int32_t *count = (int32_t *)PyBytes_AS_STRING(out);
    for (size_t v = 0; v < n; v++) count[v] = 0;
    for (int64_t base = 0; base < marked; base += 64 * REACH_WORDS) {
        int64_t span = marked - base < 64 * REACH_WORDS ? marked - base : 64 * REACH_WORDS;
        size_t words = (size_t)(span + 63) / 64;
        memset(bits, 0, (size_t)nc * REACH_WORDS * 8);
        for (long c = 0; c < nc; c++) {   /* every component it reaches has a lower number: final */
            uint64_t *bc = bits + (size_t)c * REACH_WORDS;
            for (uint32_t j = moff[c]; j < moff[c + 1]; j++) {
                uint32_t v = mem[j];
                int64_t p = mark[v] - base;
                if (mark[v] >= 0 && p >= 0 && p < span) bc[p >> 6] |= (uint64_t)1 << (p & 63);
                for (uint32_t i = off[v]; i < off[v + 1]; i++) {
                    uint32_t cw = comp[tgt[i]];
                    if (cw == (uint32_t)c) continue;
                    const uint64_t *bw = bits + (size_t)cw * REACH_WORDS;
                    for (size_t k = 0; k < words; k++) bc[k] |= bw[k];
                }
            }
            uint32_t total = 0;
            for (size_t k = 0; k < words; k++) total += POPCOUNT64(bc[k]);
            pc[c] += total;
        }
    }
    for (size_t v = 0; v < n; v++) count[v] = (int32_t)pc[comp[v]];
    result = out; out = NULL;
done:
    Py_XDECREF(out);
    free(comp); free(moff); free(mem); free(pc); free(mark); free(bits);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&wb);
    return result;
}

/* reached_bits(offsets, targets, bit_of, lo, hi) -> bytes: the rows are callers (row v: the nodes that
 * call v); per node, W = ceil((hi - lo) / 64) little-endian words with bit b - lo set for every b in
 * [lo, hi) that is bit_of[u] (int32 per node, -1: none) of some node u it reaches by calls, itself
 * included. Components of the callers' graph complete after the ones they reach (their callers), so
 * taken last-completed first each one's bits are final before they are pushed into its callers. */
KERNEL native_reached_bits(PyObject *self, PyObject *args) {
    Py_buffer ob, tb, bb;
    long lo, hi;
    if (!PyArg_ParseTuple(args, "y*y*y*ll", &ob, &tb, &bb, &lo, &hi)) return NULL;
    PyObject *result = NULL, *out = NULL;
    uint32_t *comp = NULL, *moff = NULL, *mem = NULL;
    uint64_t *bits = NULL;
    size_t n = check_rows("reached_bits", &ob, &tb);
    if (n == (size_t)-1) goto done;
    if ((size_t)bb.len != 4 * n || lo < 0 || hi < lo) { PyErr_SetString(PyExc_ValueError, "reached_bits: bad bit_of or range"); goto done; }
    const uint32_t *off = ob.buf, *tgt = tb.buf;
    const int32_t *bit_of = bb.buf;
    size_t words = (size_t)(hi - lo + 63) / 64, n1 = n ? n : 1;
    comp = malloc(n1 * 4); mem = malloc(n1 * 4);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * words * 8));
    if (!comp || !mem || !out) { if (out) PyErr_NoMemory(); goto done; }
    long nc = sccs(n, off, tgt, comp);
    if (nc < 0) { PyErr_NoMemory(); goto done; }
    moff = calloc((size_t)nc + 1, 4);
    bits = calloc(((size_t)nc ? (size_t)nc : 1) * (words ? words : 1), 8);
    if (!moff || !bits) { PyErr_NoMemory(); goto done; }
    if (group_members(n, comp, nc, moff, mem)) { PyErr_NoMemory(); goto done; }
    for (size_t v = 0; v < n; v++)
        if (bit_of[v] >= lo && bit_of[v] < hi) {
            long b = bit_of[v] - lo;
            bits[(size_t)comp[v] * words + (size_t)(b >> 6)] |= (uint64_t)1 << (b & 63);
        }
    for (long c = nc; c-- > 0;) {
        const uint64_t *bc = bits + (size_t)c * words;
        for (uint32_t j = moff[c]; j < moff[c + 1]; j++) {
            uint32_t v = mem[j];
            for (uint32_t i = off[v]; i < off[v + 1]; i++) {
                uint32_t cw = comp[tgt[i]];
                if (cw == (uint32_t)c) continue;
                uint64_t *bw = bits + (size_t)cw * words;
                for (size_t k = 0; k < words; k++) bw[k] |= bc[k];
            }
        }
    }
    uint64_t *o = (uint64_t *)PyBytes_AS_STRING(out);
    for (size_t v = 0; v < n; v++) memcpy(o + v * words, bits + (size_t)comp[v] * words, words * 8);
    result = out; out = NULL;
done:
    Py_XDECREF(out);
    free(comp); free(moff); free(mem); free(bits);
    PyBuffer_Release(&ob); PyBuffer_Release(&tb); PyBuffer_Release(&bb);
    return result;
}

