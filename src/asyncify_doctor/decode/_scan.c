/* The code-section scanner in C: the same walk as code.py's scan_code_py, driven by the same
 * opcode table (passed in from opcodes.packed_tables()), producing the same arrays.
 * Kept deliberately small: no allocation per instruction, no Python calls inside the loop.
 * Errors come back as (offset, function or -1, message) so Python raises the usual DecodeError. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { NONE = 0, BLOCK, U32, U32X2, BR_TABLE, MEMARG, I32, I64, BYTES4, BYTES8, SELECT_T, HEAPTYPE,
       TRY_TABLE, BYTES16, MEMARG_LANE, BYTE, CAST, RESUME, RESUME_THROW, ORDER_U32, ORDER_U32X2, ZERO,
       ILLEGAL = 255 };
enum { EV_NONE = 0, EV_CALL = 1, EV_CALL_INDIRECT = 2, EV_CALL_REF = 3, EV_REF_FUNC = 4,
       EV_GLOBAL_GET = 5, EV_GLOBAL_SET = 6, EV_END = 10, EV_TAIL = 16 };
#define PREFIX_SIZE 0x114

typedef struct { uint32_t *p; size_t n, cap; } Vec;

typedef struct {
    const uint8_t *d; size_t pos, end;
    const uint8_t *kinds, *evtab, *pk[4], *pe[4];
    uint32_t num_funcs, num_globals, func;
    uint32_t *stamp_call, *stamp_tail, *stamp_ref, *stamp_gget, *stamp_gset;
    size_t func_ev_start;
    Vec events, bodies, counts;
    size_t err_off; const char *err; char errbuf[200];
} S;

static int push(Vec *v, uint32_t x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4096;
        uint32_t *p = realloc(v->p, cap * sizeof(uint32_t));
        if (!p) return -1;
        v->p = p; v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

#define FAIL(s, off, msg) do { (s)->err_off = (off); (s)->err = (msg); return -1; } while (0)

static int uleb(S *s, int max_bytes, int bits, uint64_t *out) {
    size_t start = s->pos; uint64_t r = 0; int shift = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (s->pos >= s->end) FAIL(s, s->pos, "unexpected end of data (truncated file or section size past its end)");
        uint8_t b = s->d[s->pos++];
        if (shift < 64) r |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (bits < 64 && (r >> bits)) FAIL(s, start, bits == 32 ? "bad LEB128: value does not fit in 32 bits" : "bad LEB128: value too large");
            if (bits == 64 && max_bytes == 10 && i == 9 && (b & 0x7e)) FAIL(s, start, "bad LEB128: value does not fit in 64 bits");
            *out = r; return 0;
        }
    }
    snprintf(s->errbuf, sizeof s->errbuf, "bad LEB128: longer than %d bytes", max_bytes);
    FAIL(s, start, s->errbuf);
}

static int u32(S *s, uint32_t *out) { uint64_t v; if (uleb(s, 5, 32, &v)) return -1; *out = (uint32_t)v; return 0; }

static int sleb(S *s, int max_bytes, int64_t *out) {
    size_t start = s->pos; int64_t r = 0; int shift = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (s->pos >= s->end) FAIL(s, s->pos, "unexpected end of data (truncated file or section size past its end)");
        uint8_t b = s->d[s->pos++];
        if (shift < 64) r |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) {
            if ((b & 0x40) && shift < 64) r |= -((int64_t)1 << shift);
            *out = r; return 0;
        }
    }
    snprintf(s->errbuf, sizeof s->errbuf, "bad LEB128: longer than %d bytes", max_bytes);
    FAIL(s, start, s->errbuf);
}

static int skip(S *s, size_t n) {
    if (s->end - s->pos < n) {
        snprintf(s->errbuf, sizeof s->errbuf, "unexpected end of data: %zu bytes wanted, %zu left", n, s->end - s->pos);
        FAIL(s, s->pos, s->errbuf);
    }
    s->pos += n; return 0;
}

static int byte(S *s, uint8_t *out) {
    if (s->pos >= s->end) FAIL(s, s->pos, "unexpected end of data (truncated file or section size past its end)");
    *out = s->d[s->pos++]; return 0;
}

/* The one-byte abstract heap types (func extern any none noextern nofunc eq struct array i31 exn noexn
 * cont nocont), and the prefixes shared (0x65) and exact (0x62): code.py's read_heaptype. */
static int is_abstract(uint8_t b) {
    switch (b) {
    case 0x70: case 0x6f: case 0x6e: case 0x71: case 0x72: case 0x73: case 0x6d: case 0x6b: case 0x6a:
    case 0x6c: case 0x69: case 0x74: case 0x68: case 0x75: return 1;
    default: return 0;
    }
}

static int heaptype(S *s) {
    size_t at = s->pos; uint8_t b; int64_t v; uint32_t idx;
    if (byte(s, &b)) return -1;
    if ((b & 0xc0) != 0x40) {
        s->pos = at;
        if (sleb(s, 5, &v)) return -1;
        if (v < 0) FAIL(s, at, "invalid heap type (overlong encoding)");
        return 0;
    }
    if (b == 0x65) {
        if (byte(s, &b)) return -1;
        if (!is_abstract(b)) {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid heap type 0x%02x after `shared`", b);
            FAIL(s, s->pos - 1, s->errbuf);
        }
        return 0;
    }
    if (b == 0x62) return u32(s, &idx);
    if (!is_abstract(b)) {
        snprintf(s->errbuf, sizeof s->errbuf, "invalid heap type 0x%02x", b);
        FAIL(s, at, s->errbuf);
    }
    return 0;
}

static int valtype(S *s) {
    uint8_t b;
    if (byte(s, &b)) return -1;
    if (b == 0x7f || b == 0x7e || b == 0x7d || b == 0x7c || b == 0x7b || is_abstract(b)) return 0;
    if (b == 0x63 || b == 0x64) return heaptype(s);
    if (b == 0x65) {
        if (byte(s, &b)) return -1;
        if (!is_abstract(b)) {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid reference type 0x%02x after `shared`", b);
            FAIL(s, s->pos - 1, s->errbuf);
        }
        return 0;
    }
    snprintf(s->errbuf, sizeof s->errbuf, "invalid value type 0x%02x", b);
    FAIL(s, s->pos - 1, s->errbuf);
}

static int ordering(S *s) {
    size_t at = s->pos; uint32_t o;
    if (u32(s, &o)) return -1;
    if (o > 1) {
        snprintf(s->errbuf, sizeof s->errbuf, "invalid atomic ordering %u", o);
        FAIL(s, at, s->errbuf);
    }
    return 0;
}

static int blocktype(S *s) {
    int64_t v;
    if (s->pos >= s->end) { uint8_t b; return byte(s, &b); }
    uint8_t b = s->d[s->pos];
    if (b == 0x40) { s->pos++; return 0; }
    if ((b & 0xc0) == 0x40) return valtype(s);
    if (sleb(s, 5, &v)) return -1;
    if (v < 0) FAIL(s, s->pos - 1, "invalid block type");
    return 0;
}

static int memarg(S *s) {
    uint32_t flags, mem; uint64_t off;
    if (u32(s, &flags)) return -1;
    if ((flags & 0x40) && u32(s, &mem)) return -1;
    return uleb(s, 10, 64, &off);
}

static int resume_table(S *s) {
    uint32_t n, x; uint8_t kind;
    if (u32(s, &n)) return -1;
    for (uint32_t i = 0; i < n; i++) {
        size_t at = s->pos;
        if (byte(s, &kind) || u32(s, &x)) return -1;
        if (kind == 0) { if (u32(s, &x)) return -1; }
        else if (kind != 1) {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid resume handler kind 0x%02x", kind);
            FAIL(s, at, s->errbuf);
        }
    }
    return 0;
}

static int try_table(S *s) {
    uint32_t n, x; uint8_t kind;
    if (blocktype(s) || u32(s, &n)) return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (byte(s, &kind)) return -1;
        if (kind <= 1) { if (u32(s, &x) || u32(s, &x)) return -1; }
        else if (kind <= 3) { if (u32(s, &x)) return -1; }
        else {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid try_table catch kind 0x%02x", kind);
            FAIL(s, s->pos - 1, s->errbuf);
        }
    }
    return 0;
}

/* Record an event once per function (first-seen order), exactly as code.py's _Ctx.emit does. */
static int emit(S *s, uint32_t ev, uint32_t a, uint32_t b, size_t at) {
    uint32_t base = ev & ~EV_TAIL, mark = s->func + 1;
    uint32_t *stamp = NULL;
    if (base == EV_CALL || base == EV_REF_FUNC) {
        if (a >= s->num_funcs) {
            snprintf(s->errbuf, sizeof s->errbuf, "function index %u out of range (%u functions)", a, s->num_funcs);
            FAIL(s, at, s->errbuf);
        }
        stamp = base == EV_REF_FUNC ? s->stamp_ref : (ev & EV_TAIL ? s->stamp_tail : s->stamp_call);
    } else if (base == EV_GLOBAL_GET || base == EV_GLOBAL_SET) {
        if (a >= s->num_globals) {
            snprintf(s->errbuf, sizeof s->errbuf, "global index %u out of range (%u globals)", a, s->num_globals);
            FAIL(s, at, s->errbuf);
        }
        stamp = base == EV_GLOBAL_GET ? s->stamp_gget : s->stamp_gset;
    }
    if (stamp) {
        if (stamp[a] == mark) return 0;
        stamp[a] = mark;
    } else {
        for (size_t i = s->func_ev_start; i < s->events.n; i += 4)
            if (s->events.p[i + 1] == ev && s->events.p[i + 2] == a && s->events.p[i + 3] == b) return 0;
    }
    if (push(&s->events, s->func) || push(&s->events, ev) || push(&s->events, a) || push(&s->events, b))
        FAIL(s, at, "out of memory");
    return 0;
}

static int scan_body(S *s, uint32_t *n_instr, uint32_t *n_calls, uint32_t *n_ind) {
    long depth = 1;
    uint32_t a, b, n;
    int64_t sv;
    uint8_t u8;
    *n_instr = *n_calls = *n_ind = 0;
    for (;;) {
        size_t start = s->pos;
        if (start >= s->end) FAIL(s, start, "function body or expression ends without its final `end`");
        uint8_t code = s->d[s->pos++];
        uint8_t kind = s->kinds[code], ev = s->evtab[code];
        if (code >= 0xfb && code <= 0xfe) {
            uint32_t sub;
            if (u32(s, &sub)) return -1;
            int p = code - 0xfb;
            if (sub >= PREFIX_SIZE || s->pk[p][sub] == ILLEGAL) {
                static const char *names[] = {"GC", "misc (bulk memory / table / trunc_sat)", "SIMD", "threads/atomics"};
                snprintf(s->errbuf, sizeof s->errbuf, "unknown opcode 0x%02x 0x%x (%s prefix)", code, sub, names[p]);
                FAIL(s, start, s->errbuf);
            }
            kind = s->pk[p][sub]; ev = s->pe[p][sub];
        } else if (kind == ILLEGAL) {
            snprintf(s->errbuf, sizeof s->errbuf, "unknown opcode 0x%02x", code);
            FAIL(s, start, s->errbuf);
        }
        (*n_instr)++;
        uint32_t base = ev & ~EV_TAIL;
        switch (kind) {
        case NONE:
            if (ev == EV_END && --depth == 0) return 0;
            break;
        case U32:
            if (u32(s, &a)) return -1;
            if (ev) {
                if (base == EV_END) { if (--depth == 0) return 0; }
                else {
                    if (base == EV_CALL) (*n_calls)++;
                    else if (base == EV_CALL_REF) (*n_ind)++;
                    if (emit(s, ev, a, 0, start)) return -1;
                }
            }
            break;
        case BLOCK: if (blocktype(s)) return -1; depth++; break;
        case TRY_TABLE: if (try_table(s)) return -1; depth++; break;
        case U32X2:
            if (base == EV_CALL_INDIRECT) (*n_ind)++;
            if (u32(s, &a) || u32(s, &b)) return -1;
            if (ev && emit(s, ev, a, b, start)) return -1;
            break;
        case MEMARG: if (memarg(s)) return -1; break;
        case I32: if (sleb(s, 5, &sv)) return -1; break;
        case I64: if (sleb(s, 10, &sv)) return -1; break;
        case BYTES4: if (skip(s, 4)) return -1; break;
        case BYTES8: if (skip(s, 8)) return -1; break;
        case BYTES16: if (skip(s, 16)) return -1; break;
        case BR_TABLE:
            if (u32(s, &n)) return -1;
            for (uint64_t i = 0; i <= n; i++) if (u32(s, &a)) return -1;
            break;
        case SELECT_T:
            if (u32(s, &n)) return -1;
            for (uint32_t i = 0; i < n; i++) if (valtype(s)) return -1;
            break;
        case HEAPTYPE: if (heaptype(s)) return -1; break;
        case MEMARG_LANE: if (memarg(s) || byte(s, &u8)) return -1; break;
        case BYTE: if (byte(s, &u8)) return -1; break;
        case CAST:
            if (byte(s, &u8)) return -1;
            if (u8 > 3) {
                snprintf(s->errbuf, sizeof s->errbuf, "invalid cast flags 0x%02x", u8);
                FAIL(s, s->pos - 1, s->errbuf);
            }
            if (u32(s, &a) || heaptype(s) || heaptype(s)) return -1;
            break;
        case ORDER_U32:
            if (ordering(s) || u32(s, &a)) return -1;
            if (ev && emit(s, ev, a, 0, start)) return -1;
            break;
        case ORDER_U32X2: if (ordering(s) || u32(s, &a) || u32(s, &b)) return -1; break;
        case ZERO:
            if (byte(s, &u8)) return -1;
            if (u8) FAIL(s, s->pos - 1, "the byte after atomic.fence must be 0x00");
            break;
        case RESUME: if (u32(s, &a) || resume_table(s)) return -1; break;
        case RESUME_THROW: if (u32(s, &a) || u32(s, &b) || resume_table(s)) return -1; break;
        default: FAIL(s, start, "internal: unknown immediate kind");
        }
    }
}

static int scan_section(S *s, uint32_t num_imported) {
    uint32_t count, size, nlocals, cnt, ni, nc, nd;
    if (u32(s, &count)) return -1;
    for (uint32_t i = 0; i < count; i++) {
        if (u32(s, &size)) return -1;
        size_t body_start = s->pos, section_end = s->end;
        if (size > section_end - body_start) {
            snprintf(s->errbuf, sizeof s->errbuf, "size %u runs past the end (%zu bytes left)", size, section_end - body_start);
            FAIL(s, body_start, s->errbuf);
        }
        s->end = body_start + size;
        s->func = num_imported + i;
        s->func_ev_start = s->events.n;
        if (u32(s, &nlocals)) goto body_err_locals;
        for (uint32_t j = 0; j < nlocals; j++) if (u32(s, &cnt) || valtype(s)) goto body_err_locals;
        if (scan_body(s, &ni, &nc, &nd)) return -1;
        if (s->pos != s->end) FAIL(s, s->pos, "bytes after the function body's final `end`");
        s->end = section_end;
        s->func = UINT32_MAX;
        if (push(&s->bodies, (uint32_t)body_start) || push(&s->bodies, size) ||
            push(&s->counts, ni) || push(&s->counts, nc) || push(&s->counts, nd)) FAIL(s, body_start, "out of memory");
        continue;
    body_err_locals: {
        char inner[sizeof s->errbuf];
        snprintf(inner, sizeof inner, "%s", s->err);  /* s->err may point into errbuf itself */
        snprintf(s->errbuf, sizeof s->errbuf, "in local declarations: %.130s", inner);
        s->err = s->errbuf;
    }
        return -1;
    }
    if (s->pos != s->end) FAIL(s, s->pos, "bytes after the last function body in the code section");
    return 0;
}

static PyObject *vec_bytes(Vec *v) {
    return PyBytes_FromStringAndSize((const char *)v->p, (Py_ssize_t)(v->n * sizeof(uint32_t)));
}

/* scan(data, start, end, num_imported, num_funcs, num_globals, tables)
 *   -> (bodies: bytes, events: bytes, counts: bytes) of native-endian u32,
 *   or ("error", offset, function or -1, message) */
static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data, tables;
    Py_ssize_t start, end;
    unsigned int num_imported, num_funcs, num_globals;
    if (!PyArg_ParseTuple(args, "y*nnIIIy*", &data, &start, &end, &num_imported, &num_funcs, &num_globals, &tables))
        return NULL;
    PyObject *result = NULL;
    S s; memset(&s, 0, sizeof s);
    s.func = UINT32_MAX;  /* "not inside a body": errors then name no function */
    if (tables.len != 2 * 256 + 8 * PREFIX_SIZE || start < 0 || end > data.len || start > end) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to _scan.scan");
        goto out;
    }
    const uint8_t *t = tables.buf;
    s.kinds = t; s.evtab = t + 256;
    for (int p = 0; p < 4; p++) { s.pk[p] = t + 512 + 2 * p * PREFIX_SIZE; s.pe[p] = s.pk[p] + PREFIX_SIZE; }
    s.d = data.buf; s.pos = (size_t)start; s.end = (size_t)end;
    s.num_funcs = num_funcs; s.num_globals = num_globals;
    size_t nf = (size_t)num_funcs + 1, ng = (size_t)num_globals + 1;
    s.stamp_call = calloc(nf, 4); s.stamp_tail = calloc(nf, 4); s.stamp_ref = calloc(nf, 4);
    s.stamp_gget = calloc(ng, 4); s.stamp_gset = calloc(ng, 4);
    if (!s.stamp_call || !s.stamp_tail || !s.stamp_ref || !s.stamp_gget || !s.stamp_gset) { PyErr_NoMemory(); goto out; }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = scan_section(&s, num_imported);
    Py_END_ALLOW_THREADS
    if (rc) {
        long func = s.func == UINT32_MAX ? -1 : (long)s.func;
        result = Py_BuildValue("(snls)", "error", (Py_ssize_t)s.err_off, func, s.err);
    } else {
        result = Py_BuildValue("(NNN)", vec_bytes(&s.bodies), vec_bytes(&s.events), vec_bytes(&s.counts));
    }
out:
    free(s.stamp_call); free(s.stamp_tail); free(s.stamp_ref); free(s.stamp_gget); free(s.stamp_gset);
    free(s.events.p); free(s.bodies.p); free(s.counts.p);
    PyBuffer_Release(&data); PyBuffer_Release(&tables);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Scan a wasm code section; see asyncify_doctor.decode.accel."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
