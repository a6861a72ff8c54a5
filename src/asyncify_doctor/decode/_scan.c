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
       EV_GLOBAL_GET = 5, EV_GLOBAL_SET = 6, EV_END = 10, EV_DATA = 11, EV_CALL_CHECK = 12, EV_TAIL = 16 };
/* Asyncify's unwind check after a call (code.py's _CheckWatch, same constants as opcodes.py). */
#define NO_CALLEE 0xFFFFFFFFu
#define CHECK_WINDOW 8
#define PREFIX_SIZE 0x114

typedef struct { uint32_t *p; size_t n, cap; } Vec;

typedef struct {
    const uint8_t *d; size_t pos, end;
    const uint8_t *kinds, *evtab, *pk[4], *pe[4];
    uint32_t num_funcs, num_globals, func;
    int data_count;   /* the module has a data count section: code may name data segments */
    uint32_t *stamp_call, *stamp_tail, *stamp_ref, *stamp_gget, *stamp_gset;
    size_t func_ev_start;
    int64_t pend;                 /* callee of the call whose check we watch for, or -1 */
    int nhist; uint8_t hc[2]; int64_t hv[2];   /* how many instructions since it, and the last two */
    Vec events, bodies, counts;
    size_t err_off; const char *err; char errbuf[200];
} S;

static inline int push(Vec *v, uint32_t x) {
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
#define PL(n) ((n) == 1 ? "" : "s")   /* "1 byte", "2 bytes": the same words as reader.count */

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

static inline int u32(S *s, uint32_t *out) {
    if (s->pos < s->end && s->d[s->pos] < 0x80) { *out = s->d[s->pos++]; return 0; }  /* one byte: most indices */
    uint64_t v; if (uleb(s, 5, 32, &v)) return -1; *out = (uint32_t)v; return 0;
}

/* A signed LEB128 of `bits` bits; in the longest form, the last byte's unused bits must repeat the
 * sign (reader.py's _check_sign_extension). */
static int sleb(S *s, int max_bytes, int bits, int64_t *out) {
    size_t start = s->pos; int64_t r = 0; int shift = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (s->pos >= s->end) FAIL(s, s->pos, "unexpected end of data (truncated file or section size past its end)");
        uint8_t b = s->d[s->pos++];
        if (shift < 64) r |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) {
            if (i == max_bytes - 1) {
                int used = bits - 7 * i;
                unsigned v = b & 0x7f, sign = (v >> (used - 1)) & 1;
                if ((v >> used) != (sign ? (0x7fu >> used) : 0u)) {
                    snprintf(s->errbuf, sizeof s->errbuf, "bad LEB128: value does not fit in %d bits", bits);
                    FAIL(s, start, s->errbuf);
                }
            }
            if ((b & 0x40) && shift < 64) r |= -((int64_t)1 << shift);
            *out = r; return 0;
        }
    }
    snprintf(s->errbuf, sizeof s->errbuf, "bad LEB128: longer than %d bytes", max_bytes);
    FAIL(s, start, s->errbuf);
}

static int skip(S *s, size_t n) {
    if (s->end - s->pos < n) {
        snprintf(s->errbuf, sizeof s->errbuf, "unexpected end of data: %zu byte%s wanted, %zu left", n, PL(n), s->end - s->pos);
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
        if (sleb(s, 5, 33, &v)) return -1;
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
    if (sleb(s, 5, 33, &v)) return -1;
    if (v < 0) FAIL(s, s->pos - 1, "invalid block type");
    return 0;
}

static int memarg(S *s) {
    uint32_t flags, mem; uint64_t off;
    size_t at = s->pos;
    if (u32(s, &flags)) return -1;
    if (flags >= 0x80) {  /* alignment (bits 0-5) and a memory index (bit 6) only */
        snprintf(s->errbuf, sizeof s->errbuf, "malformed memarg flags 0x%x", flags);
        FAIL(s, at, s->errbuf);
    }
    if ((flags & 0x40) && u32(s, &mem)) return -1;
    if (s->pos < s->end && s->d[s->pos] < 0x80) { s->pos++; return 0; }  /* a one-byte offset */
    return uleb(s, 10, 64, &off);
}

/* An immediate whose value does not matter (i32.const, i64.const): one byte when it is small. */
static inline int skip_sleb(S *s, int max_bytes, int bits) {
    int64_t v;
    if (s->pos < s->end && s->d[s->pos] < 0x80) { s->pos++; return 0; }
    return sleb(s, max_bytes, bits, &v);
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
    } else if (ev == EV_DATA && !s->data_count) {
        FAIL(s, at, "memory.init, data.drop or array.*_data need the data count section, which is missing");
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

static int transparent(uint8_t code) {
    switch (code) {
    case 0x01: case 0x0b: case 0x1a: case 0x20: case 0x21: case 0x22: case 0x23: case 0x41: case 0x42: case 0x43: case 0x44: return 1;
    default: return 0;
    }
}

/* One instruction seen while (or before) watching for the check; mirrors _CheckWatch.step. */
static int watch(S *s, uint8_t code, uint32_t ev, int64_t imm, size_t at) {
    if (ev == EV_CALL || ev == EV_CALL_INDIRECT) {
        s->pend = ev == EV_CALL ? imm : (int64_t)NO_CALLEE; s->nhist = 0;
        return 0;
    }
    if ((code == 0x46 || code == 0x47) && s->nhist >= 2) {
        uint8_t c1 = s->hc[0], c2 = s->hc[1]; int64_t v1 = s->hv[0], v2 = s->hv[1];
        if (c1 == 0x23 && c2 == 0x41 && v2 == 1) { if (emit(s, EV_CALL_CHECK, (uint32_t)s->pend, (uint32_t)v1, at)) return -1; }
        else if (c1 == 0x41 && v1 == 1 && c2 == 0x23) { if (emit(s, EV_CALL_CHECK, (uint32_t)s->pend, (uint32_t)v2, at)) return -1; }
    }
    if (!transparent(code) || s->nhist >= CHECK_WINDOW) { s->pend = -1; return 0; }
    s->hc[0] = s->hc[1]; s->hv[0] = s->hv[1]; s->hc[1] = code; s->hv[1] = imm; s->nhist++;
    return 0;
}

static int scan_body(S *s, uint32_t *n_instr, uint32_t *n_calls, uint32_t *n_ind) {
    long depth = 1;
    uint32_t a, b, n;
    uint8_t u8;
    const uint8_t *d = s->d, *kinds = s->kinds, *evtab = s->evtab;
    const size_t end = s->end;
    *n_instr = *n_calls = *n_ind = 0;
    s->pend = -1; s->nhist = 0;
    for (;;) {
        int64_t imm = 0;
        /* Fast paths for the most common instructions, with the cursor in a register: no immediate
         * (numeric, drop, end...), one one-byte index (local.get/set...), a one-byte memarg and offset,
         * a one-byte constant. They accept exactly what the general path below accepts. */
        size_t pos = s->pos;
        if (s->pend < 0 && pos + 3 <= end) {   /* not while watching for Asyncify's check */
            uint8_t code = d[pos], kind = kinds[code];
            if (kind == NONE) {
                (*n_instr)++;
                s->pos = pos + 1;
                if (evtab[code] == EV_END && --depth == 0) return 0;
                continue;
            }
            if ((kind == U32 && !evtab[code]) || kind == I32) {
                /* 1 to 4 LEB bytes hold any value of either kind; 5 take the checks of the slow path */
                if (d[pos + 1] < 0x80) { (*n_instr)++; s->pos = pos + 2; continue; }
                if (pos + 5 <= end) {
                    size_t q = d[pos + 2] < 0x80 ? pos + 3 : d[pos + 3] < 0x80 ? pos + 4 : d[pos + 4] < 0x80 ? pos + 5 : 0;
                    if (q) { (*n_instr)++; s->pos = q; continue; }
                }
            } else if (kind == MEMARG) {
                if (d[pos + 1] < 0x40 && d[pos + 2] < 0x80) { (*n_instr)++; s->pos = pos + 3; continue; }
            }
        }
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
            imm = a;
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
        case I32: {
            size_t at = s->pos;
            int64_t sv;
            if (skip_sleb(s, 5, 32)) return -1;
            if (s->pend >= 0) { size_t after = s->pos; s->pos = at; if (sleb(s, 5, 32, &sv)) return -1; s->pos = after; imm = sv; }
            break;
        }
        case I64: if (skip_sleb(s, 10, 64)) return -1; break;
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
        if ((s->pend >= 0 || ev == EV_CALL || ev == EV_CALL_INDIRECT) &&
            watch(s, code >= 0xfb && code <= 0xfe ? 0xff : code, ev, imm, start)) return -1;
    }
}

/* `count` bodies from s->pos, the first one being function `func0`. */
static int scan_bodies(S *s, uint32_t func0, uint32_t count) {
    uint32_t size, nlocals, cnt, ni, nc, nd;
    for (uint32_t i = 0; i < count; i++) {
        if (u32(s, &size)) return -1;
        size_t body_start = s->pos, section_end = s->end;
        if (size > section_end - body_start) {
            snprintf(s->errbuf, sizeof s->errbuf, "size %u runs past the end (%zu byte%s left)", size, section_end - body_start, PL(section_end - body_start));
            FAIL(s, body_start, s->errbuf);
        }
        s->end = body_start + size;
        s->func = func0 + i;
        s->func_ev_start = s->events.n;
        if (u32(s, &nlocals)) goto body_err_locals;
        uint64_t total = 0;
        for (uint32_t j = 0; j < nlocals; j++) {
            size_t at = s->pos;
            if (u32(s, &cnt)) goto body_err_locals;
            if ((total += cnt) > UINT32_MAX) { s->err_off = at; s->err = "too many locals (more than 2^32 - 1)"; goto body_err_locals; }
            if (valtype(s)) goto body_err_locals;
        }
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
    return 0;
}

static int scan_section(S *s, uint32_t num_imported) {
    uint32_t count;
    if (u32(s, &count) || scan_bodies(s, num_imported, count)) return -1;
    if (s->pos != s->end) FAIL(s, s->pos, "bytes after the last function body in the code section");
    return 0;
}

/* Where to cut a big code section in two for two threads: the first body at or past half of its bytes.
 * Walks the body sizes only; returns -1 (scan it in one piece, which words any error) unless they are
 * all well-formed and the section is worth cutting. */
static int find_split(const uint8_t *d, size_t start, size_t end, uint32_t *count, size_t *first,
                      uint32_t *mid_i, size_t *mid_pos) {
    S t; memset(&t, 0, sizeof t);
    t.d = d; t.pos = start; t.end = end;
    uint32_t n, size;
    if (end - start < (1u << 20) || u32(&t, &n) || n < 256) return -1;
    *count = n; *first = t.pos;
    size_t half = t.pos + (end - t.pos) / 2;
    int found = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!found && t.pos >= half) { *mid_i = i; *mid_pos = t.pos; found = 1; }
        if (u32(&t, &size) || size > t.end - t.pos) return -1;
        t.pos += size;
    }
    return found && *mid_i > 0 ? 0 : -1;
}

static int setup(S *s, Py_buffer *data, Py_ssize_t start, Py_ssize_t end, unsigned num_funcs, unsigned num_globals, Py_buffer *tables);
static void teardown(S *s);

static PyObject *vec_bytes(Vec *v) {
    return PyBytes_FromStringAndSize((const char *)v->p, (Py_ssize_t)(v->n * sizeof(uint32_t)));
}

/* scan(data, start, end, num_imported, num_funcs, num_globals, tables)
 *   -> (bodies: bytes, events: bytes, counts: bytes) of native-endian u32,
 *   or ("error", offset, function or -1, message) */
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define HAVE_THREADS 1
typedef struct { S *s; uint32_t func0, count; int rc; } Job;
static void *run_job(void *p) { Job *j = p; j->rc = scan_bodies(j->s, j->func0, j->count); return NULL; }
#endif

static PyObject *error_tuple(S *s) {
    long func = s->func == UINT32_MAX ? -1 : (long)s->func;
    return Py_BuildValue("(snls)", "error", (Py_ssize_t)s->err_off, func, s->err);
}

static PyObject *concat(Vec *a, Vec *b) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((a->n + b->n) * 4));
    if (out) {
        if (a->n) memcpy(PyBytes_AS_STRING(out), a->p, a->n * 4);
        if (b->n) memcpy(PyBytes_AS_STRING(out) + a->n * 4, b->p, b->n * 4);
    }
    return out;
}

/* scan(data, start, end, num_imported, num_funcs, num_globals, tables)
 *   -> (bodies: bytes, events: bytes, counts: bytes) of native-endian u32,
 *   or ("error", offset, function or -1, message).
 * A big section is scanned as two halves on two threads (each body is scanned on its own, so the
 * halves joined are exactly the one-piece result; the first error in file order is the one reported). */
static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data, tables;
    Py_ssize_t start, end;
    unsigned int num_imported, num_funcs, num_globals;
    int data_count = 1;
    if (!PyArg_ParseTuple(args, "y*nnIIIy*|p", &data, &start, &end, &num_imported, &num_funcs, &num_globals, &tables,
                          &data_count))
        return NULL;
    PyObject *result = NULL;
    S s, t;
    int two = 0;
    if (setup(&s, &data, start, end, num_funcs, num_globals, &tables) == 0) {
        s.data_count = data_count;
        uint32_t count = 0, mid_i = 0;
        size_t first = 0, mid_pos = 0;
#ifdef HAVE_THREADS
        two = find_split(s.d, s.pos, s.end, &count, &first, &mid_i, &mid_pos) == 0;
        if (two && setup(&t, &data, (Py_ssize_t)mid_pos, end, num_funcs, num_globals, &tables) != 0) {
            teardown(&t);
            two = -1;
        }
        t.data_count = data_count;
#endif
        if (two == 1) {
#ifdef HAVE_THREADS
            s.pos = first; s.end = mid_pos;
            Job ja = {&s, num_imported, mid_i, 0}, jb = {&t, num_imported + mid_i, count - mid_i, 0};
            pthread_t th;
            Py_BEGIN_ALLOW_THREADS
            int started = pthread_create(&th, NULL, run_job, &jb) == 0;
            run_job(&ja);
            if (started) pthread_join(th, NULL); else run_job(&jb);
            Py_END_ALLOW_THREADS
            if (ja.rc) result = error_tuple(&s);
            else if (jb.rc) result = error_tuple(&t);
            else if (t.pos != t.end) {
                t.err_off = t.pos; t.func = UINT32_MAX; t.err = "bytes after the last function body in the code section";
                result = error_tuple(&t);
            } else {
                result = Py_BuildValue("(NNN)", concat(&s.bodies, &t.bodies), concat(&s.events, &t.events),
                                       concat(&s.counts, &t.counts));
            }
            teardown(&t);
#endif
        } else if (two == 0) {
            int rc;
            Py_BEGIN_ALLOW_THREADS
            rc = scan_section(&s, num_imported);
            Py_END_ALLOW_THREADS
            result = rc ? error_tuple(&s) : Py_BuildValue("(NNN)", vec_bytes(&s.bodies), vec_bytes(&s.events), vec_bytes(&s.counts));
        }
    }
    teardown(&s);
    PyBuffer_Release(&data); PyBuffer_Release(&tables);
    return result;
}

/* The data section (module.py's _data_section): segments read to their last byte, offsets scanned as
 * constant expressions, bytes skipped. Returns the position after the last segment. */
static int scan_data(S *s) {
    uint32_t count, flags, mem, size, ni, nc, nd;
    if (u32(s, &count)) return -1;
    for (uint32_t i = 0; i < count; i++) {
        size_t at = s->pos;
        if (u32(s, &flags)) return -1;
        if (flags > 2) {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid data segment flags %u", flags);
            FAIL(s, at, s->errbuf);
        }
        if (flags == 2 && u32(s, &mem)) return -1;
        if (flags != 1 && scan_body(s, &ni, &nc, &nd)) return -1;
        if (u32(s, &size)) return -1;
        if (size > s->end - s->pos) {
            snprintf(s->errbuf, sizeof s->errbuf, "data segment of %u bytes runs past the end (%zu bytes left)", size, s->end - s->pos);
            FAIL(s, s->pos, s->errbuf);
        }
        s->pos += size;
    }
    return 0;
}

static int setup(S *s, Py_buffer *data, Py_ssize_t start, Py_ssize_t end, unsigned num_funcs, unsigned num_globals, Py_buffer *tables) {
    memset(s, 0, sizeof *s);
    s->func = UINT32_MAX;  /* "not inside a body": errors then name no function */
    if (tables->len != 2 * 256 + 8 * PREFIX_SIZE || start < 0 || end > data->len || start > end) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to _scan");
        return -1;
    }
    const uint8_t *t = tables->buf;
    s->kinds = t; s->evtab = t + 256;
    for (int p = 0; p < 4; p++) { s->pk[p] = t + 512 + 2 * p * PREFIX_SIZE; s->pe[p] = s->pk[p] + PREFIX_SIZE; }
    s->d = data->buf; s->pos = (size_t)start; s->end = (size_t)end;
    s->num_funcs = num_funcs; s->num_globals = num_globals;
    size_t nf = (size_t)num_funcs + 1, ng = (size_t)num_globals + 1;
    s->stamp_call = calloc(nf, 4); s->stamp_tail = calloc(nf, 4); s->stamp_ref = calloc(nf, 4);
    s->stamp_gget = calloc(ng, 4); s->stamp_gset = calloc(ng, 4);
    if (!s->stamp_call || !s->stamp_tail || !s->stamp_ref || !s->stamp_gget || !s->stamp_gset) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void teardown(S *s) {
    free(s->stamp_call); free(s->stamp_tail); free(s->stamp_ref); free(s->stamp_gget); free(s->stamp_gset);
    free(s->events.p); free(s->bodies.p); free(s->counts.p);
}

/* data(data, start, end, num_funcs, num_globals, tables) -> end position, or ("error", offset, -1, message) */
static PyObject *data_section(PyObject *self, PyObject *args) {
    Py_buffer data, tables;
    Py_ssize_t start, end;
    unsigned int num_funcs, num_globals;
    if (!PyArg_ParseTuple(args, "y*nnIIy*", &data, &start, &end, &num_funcs, &num_globals, &tables)) return NULL;
    PyObject *result = NULL;
    S s;
    if (setup(&s, &data, start, end, num_funcs, num_globals, &tables) == 0) {
        s.data_count = 1;
        if (scan_data(&s)) result = Py_BuildValue("(snls)", "error", (Py_ssize_t)s.err_off, -1L, s.err);
        else result = PyLong_FromSsize_t((Py_ssize_t)s.pos);
    }
    teardown(&s);
    PyBuffer_Release(&data); PyBuffer_Release(&tables);
    return result;
}

static PyObject *new_u32s(size_t n, uint32_t **out) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    if (b) *out = (uint32_t *)PyBytes_AS_STRING(b);
    return b;
}

/* split(events) -> (call sources, call targets, other events): the direct calls (call and return_call)
 * of the (function, event, a, b) quads as two u32 arrays, and the other events that shape the graph
 * (all but global reads and writes) as quads. */
static PyObject *split(PyObject *self, PyObject *args) {
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
static PyObject *events_of(PyObject *self, PyObject *args) {
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
static PyObject *csr(PyObject *self, PyObject *args) {
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
static PyObject *bfs(PyObject *self, PyObject *args) {
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

/* Fast readers for the long vectors of the module sections. Each returns None on anything malformed,
 * and module.py then reads the same bytes with its pure-Python reader, which words the error: so the
 * error messages exist once, and both paths accept exactly the same bytes. */
typedef struct { const uint8_t *d; size_t pos, end; } R;

static inline int r_u32(R *r, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 5; i++) {
        if (r->pos >= r->end) return -1;
        uint8_t b = r->d[r->pos++];
        if (i == 4 && (b & 0xf0)) return -1;      /* more than 32 bits, or a continuation bit */
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

static PyObject *r_name(R *r) {
    uint32_t n;
    if (r_u32(r, &n) || n > r->end - r->pos) return NULL;
    PyObject *s = PyUnicode_DecodeUTF8((const char *)r->d + r->pos, n, NULL);
    if (!s) { PyErr_Clear(); return NULL; }
    r->pos += n;
    return s;
}

static int r_args(PyObject *args, Py_buffer *buf, R *r) {
    Py_ssize_t pos, end;
    if (!PyArg_ParseTuple(args, "y*nn", buf, &pos, &end)) return -1;
    if (pos < 0 || end > buf->len || pos > end) { PyBuffer_Release(buf); PyErr_SetString(PyExc_ValueError, "bad range"); return -1; }
    r->d = buf->buf; r->pos = (size_t)pos; r->end = (size_t)end;
    return 0;
}

/* u32_vec(data, pos, end) -> (values: bytes of u32, position after) | None: a vec(u32). */
static PyObject *u32_vec(PyObject *self, PyObject *args) {
    Py_buffer buf; R r; uint32_t n, *out = NULL;
    if (r_args(args, &buf, &r)) return NULL;
    PyObject *vals = NULL, *result = NULL;
    if (r_u32(&r, &n) || n > r.end - r.pos) goto bad;
    vals = new_u32s(n, &out);
    if (!vals) goto done;
    for (uint32_t i = 0; i < n; i++) if (r_u32(&r, &out[i])) goto bad;
    result = Py_BuildValue("(On)", vals, (Py_ssize_t)r.pos);
    goto done;
bad:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(vals);
    PyBuffer_Release(&buf);
    return result;
}

/* name_map(data, pos, end) -> (indices: bytes of u32, names: list of str, position after) | None. */
static PyObject *name_map(PyObject *self, PyObject *args) {
    Py_buffer buf; R r; uint32_t n, *idx = NULL;
    if (r_args(args, &buf, &r)) return NULL;
    PyObject *idxs = NULL, *names = NULL, *result = NULL;
    if (r_u32(&r, &n) || n > r.end - r.pos) goto bad;
    idxs = new_u32s(n, &idx);
    names = PyList_New(n);
    if (!idxs || !names) goto done;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *s;
        if (r_u32(&r, &idx[i]) || !(s = r_name(&r))) goto bad;
        PyList_SET_ITEM(names, i, s);
    }
    result = Py_BuildValue("(OOn)", idxs, names, (Py_ssize_t)r.pos);
    goto done;
bad:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(idxs); Py_XDECREF(names);
    PyBuffer_Release(&buf);
    return result;
}

/* exports(data, pos, end) -> (names: list of str, kinds: bytes, indices: bytes of u32, position after)
 * | None. Kinds are not checked here (module.py does, with its message). */
static PyObject *exports(PyObject *self, PyObject *args) {
    Py_buffer buf; R r; uint32_t n, *idx = NULL;
    if (r_args(args, &buf, &r)) return NULL;
    PyObject *names = NULL, *kinds = NULL, *idxs = NULL, *result = NULL;
    if (r_u32(&r, &n) || n > r.end - r.pos) goto bad;
    names = PyList_New(n);
    kinds = PyBytes_FromStringAndSize(NULL, n);
    idxs = new_u32s(n, &idx);
    if (!names || !kinds || !idxs) goto done;
    char *k = PyBytes_AS_STRING(kinds);
    for (uint32_t i = 0; i < n; i++) {
        PyObject *s = r_name(&r);
        if (!s) goto bad;
        PyList_SET_ITEM(names, i, s);
        if (r.pos >= r.end) goto bad;
        k[i] = (char)r.d[r.pos++];
        if (r_u32(&r, &idx[i])) goto bad;
    }
    result = Py_BuildValue("(OOOn)", names, kinds, idxs, (Py_ssize_t)r.pos);
    goto done;
bad:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(names); Py_XDECREF(kinds); Py_XDECREF(idxs);
    PyBuffer_Release(&buf);
    return result;
}

/* records(cls, columns) -> [cls(row) for row in zip(*columns)] for a tuple subclass `cls` (module.py's
 * Function): the record objects made directly, not through a tuple per row (its twin in module.py). */
static PyObject *records(PyObject *self, PyObject *args) {
    PyTypeObject *cls; PyObject *columns;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &columns)) return NULL;
    if (!PyType_IsSubtype(cls, &PyTuple_Type)) { PyErr_SetString(PyExc_TypeError, "records: not a tuple type"); return NULL; }
    Py_ssize_t k = PyTuple_GET_SIZE(columns), n = -1;
    PyObject *fast[16];
    if (k > 16) { PyErr_SetString(PyExc_ValueError, "records: too many columns"); return NULL; }
    PyObject *out = NULL;
    Py_ssize_t made = 0;
    for (Py_ssize_t j = 0; j < k; j++) fast[j] = NULL;
    for (Py_ssize_t j = 0; j < k; j++) {
        fast[j] = PySequence_Fast(PyTuple_GET_ITEM(columns, j), "records: columns must be sequences");
        if (!fast[j]) goto done;
        Py_ssize_t len = PySequence_Fast_GET_SIZE(fast[j]);
        if (n >= 0 && len != n) { PyErr_SetString(PyExc_ValueError, "records: columns differ in length"); goto done; }
        n = len;
    }
    if (n < 0) n = 0;
    out = PyList_New(n);
    if (!out) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = cls->tp_alloc(cls, k);
        if (!rec) { Py_CLEAR(out); goto done; }
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *item = PySequence_Fast_GET_ITEM(fast[j], i);
            Py_INCREF(item);
            PyTuple_SET_ITEM(rec, j, item);
        }
        PyList_SET_ITEM(out, i, rec);
        made++;
    }
done:
    for (Py_ssize_t j = 0; j < k; j++) Py_XDECREF(fast[j]);
    (void)made;
    return out;
}

/* --- graph algorithms of the audit's triage (triage.py has the pure-Python twins, tested equal) ---
 * Graphs are compressed rows: row v is `targets[offsets[v]:offsets[v + 1]]`. */

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
static PyObject *closure_rows(PyObject *self, PyObject *args) {
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
static PyObject *upto(PyObject *self, PyObject *args) {
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
static PyObject *dominated(PyObject *self, PyObject *args) {
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
static PyObject *reach(PyObject *self, PyObject *args) {
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
static PyObject *reached_bits(PyObject *self, PyObject *args) {
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

/* The names of a list that are not plain (letters, digits, `_`, `$`; empty names included): only
   these can be read otherwise by a list's consumers (lists.odd_names, twin: its regex). */
static PyObject *odd_names(PyObject *self, PyObject *args) {
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

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Scan a wasm code section; see asyncify_doctor.decode.accel."},
    {"data", data_section, METH_VARARGS, "Read a data section to its end; see asyncify_doctor.decode.accel."},
    {"split", split, METH_VARARGS, "Direct calls apart from the other events; see asyncify_doctor.decode.accel."},
    {"events_of", events_of, METH_VARARGS, "The quads of one event kind; see asyncify_doctor.decode.accel."},
    {"csr", csr, METH_VARARGS, "Edges as sorted, deduplicated rows; see asyncify_doctor.decode.accel."},
    {"bfs", bfs, METH_VARARGS, "Multi-source breadth-first search; see asyncify_doctor.decode.accel."},
    {"closure_rows", closure_rows, METH_VARARGS, "Rows of a node subset, renumbered, with edge levels; see asyncify_doctor.decode.accel."},
    {"upto", upto, METH_VARARGS, "Rows with the edges up to a level; see asyncify_doctor.decode.accel."},
    {"dominated", dominated, METH_VARARGS, "Weights summed over dominator subtrees; see asyncify_doctor.decode.accel."},
    {"reached_bits", reached_bits, METH_VARARGS, "Bits each node reaches, from its callers' rows; see asyncify_doctor.decode.accel."},
    {"reach", reach, METH_VARARGS, "Marked nodes each node reaches; see asyncify_doctor.decode.accel."},
    {"records", records, METH_VARARGS, "Tuple-subclass records from columns; see asyncify_doctor.decode.accel."},
    {"u32_vec", u32_vec, METH_VARARGS, "A vec(u32), or None if malformed; see asyncify_doctor.decode.accel."},
    {"name_map", name_map, METH_VARARGS, "A name map, or None if malformed; see asyncify_doctor.decode.accel."},
    {"exports", exports, METH_VARARGS, "An export section, or None if malformed; see asyncify_doctor.decode.accel."},
    {"odd_names", odd_names, METH_VARARGS, "The names that are not plain; see asyncify_doctor.lists.odd_names."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
