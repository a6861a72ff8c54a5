/* The decode kernels: the code-section scanner (the same walk as decode/code.py's scan_code_py, driven
 * by the same tables, passed in from opcodes.packed_tables(), producing the same arrays and uses), the
 * data section (scan_data_py), the long vectors of the module sections and the Function records
 * (decode/module.py's u32_vec_py, name_map_py, exports_py, records_py).
 * Kept deliberately small: no allocation per instruction, no Python calls inside the loop.
 * Errors come back as (offset, function or -1, message) so Python raises the usual DecodeError. */
#include "native.h"

/* opcodes.py's immediate kinds and use classes (the same numbers: module.c exports them and
 * tests/test_accel.py compares). */
enum { NONE = 0, BLOCK, U32, U32X2, BR_TABLE, MEMARG, I32, I64, BYTES4, BYTES8, SELECT_T, HEAPTYPE,
       TRY_TABLE, BYTES16, MEMARG_LANE, BYTE, CAST, RESUME, RESUME_THROW, ORDER_U32, ORDER_U32X2, ZERO,
       MEMIDX, ILLEGAL = 255 };
/* The classes the immediates show (the opcodes' own come from the tables). */
enum { U_MULTI_MEMORY = 19, U_OTHER_TABLE = 20, U_GCREF = 24, U_MULTI_VALUE = 25, U_PASSIVE_DATA = 27,
       U_DATA_MEMORY = 28, MAX_USES = 64, NO_USE = 255 };
/* Asyncify's unwind check after a call (code.py's _CheckWatch, same constants as opcodes.py). */
#define NO_CALLEE 0xFFFFFFFFu
#define CHECK_WINDOW 8
#define PREFIX_SIZE 0x114
#define TABLES_SIZE (5 * 256 + 12 * PREFIX_SIZE)   /* opcodes.packed_tables() */
/* How the fast paths of scan_body take an opcode (all but F_SLOW: no event, no use, a short immediate). */
enum { F_SLOW = 0, F_NONE, F_END, F_LEB, F_MEMARG };

typedef struct { uint32_t *p; size_t n, cap; } Vec;

typedef struct {
    const uint8_t *d; size_t pos, end;
    const uint8_t *kinds, *evtab, *pk[4], *pe[4];
    const uint8_t *buse, *puse[4], *tuse;   /* use class per base opcode, prefixed opcode, type byte */
    const uint8_t *multi; size_t nmulti;    /* per type index: a block of that type is multi-value */
    uint8_t fast[256];                      /* F_* per base opcode */
    uint64_t uses; uint32_t first[MAX_USES];   /* the classes used, and where each was first */
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

/* The code holds class `cls` (or NO_USE: nothing) at `at`: code.py's _Ctx.use. */
static inline void use(S *s, uint8_t cls, size_t at) {
    if (cls == NO_USE || (s->uses >> cls & 1)) return;
    s->uses |= (uint64_t)1 << cls;
    s->first[cls] = (uint32_t)at;
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

/* A heap type; *cls its use class (code.py's read_heaptype_use: a type index is U_GCREF). */
static int heaptype(S *s, uint8_t *cls) {
    size_t at = s->pos; uint8_t b; int64_t v; uint32_t idx;
    *cls = U_GCREF;
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
        *cls = s->tuse[b];
        return 0;
    }
    if (b == 0x62) return u32(s, &idx);
    if (!is_abstract(b)) {
        snprintf(s->errbuf, sizeof s->errbuf, "invalid heap type 0x%02x", b);
        FAIL(s, at, s->errbuf);
    }
    *cls = s->tuse[b];
    return 0;
}

/* A value type; *cls its use class (code.py's read_valtype_use). */
static int valtype(S *s, uint8_t *cls) {
    uint8_t b;
    *cls = NO_USE;
    if (byte(s, &b)) return -1;
    if (b == 0x7f || b == 0x7e || b == 0x7d || b == 0x7c || b == 0x7b || is_abstract(b)) { *cls = s->tuse[b]; return 0; }
    if (b == 0x63 || b == 0x64) return heaptype(s, cls);
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

/* A block type; *cls its use class (code.py's read_blocktype): its value type's, or U_MULTI_VALUE for
 * a type index that `multi` marks. */
static int blocktype(S *s, uint8_t *cls) {
    int64_t v;
    *cls = NO_USE;
    if (s->pos >= s->end) { uint8_t b; return byte(s, &b); }
    uint8_t b = s->d[s->pos];
    if (b == 0x40) { s->pos++; return 0; }
    if ((b & 0xc0) == 0x40) return valtype(s, cls);
    if (sleb(s, 5, 33, &v)) return -1;
    if (v < 0) FAIL(s, s->pos - 1, "invalid block type");
    if ((uint64_t)v < s->nmulti && s->multi[v]) *cls = U_MULTI_VALUE;
    return 0;
}

/* A memarg; *mem its memory index. */
static int memarg(S *s, uint32_t *mem) {
    uint32_t flags; uint64_t off;
    size_t at = s->pos;
    *mem = 0;
    if (u32(s, &flags)) return -1;
    if (flags >= 0x80) {  /* alignment (bits 0-5) and a memory index (bit 6) only */
        snprintf(s->errbuf, sizeof s->errbuf, "malformed memarg flags 0x%x", flags);
        FAIL(s, at, s->errbuf);
    }
    if ((flags & 0x40) && u32(s, mem)) return -1;
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

static int try_table(S *s, uint8_t *cls) {
    uint32_t n, x; uint8_t kind;
    if (blocktype(s, cls) || u32(s, &n)) return -1;
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
    uint8_t u8, cls;
    const uint8_t *d = s->d, *fast = s->fast;
    const size_t end = s->end;
    *n_instr = *n_calls = *n_ind = 0;
    s->pend = -1; s->nhist = 0;
    for (;;) {
        int64_t imm = 0;
        /* Fast paths for the most common instructions, with the cursor in a register: no immediate
         * (numeric, drop, end...), one one-byte index (local.get/set...), a one-byte memarg and offset,
         * a one-byte constant; none with an event or a use (`fast`, made by setup). They accept exactly
         * what the general path below accepts. */
        size_t pos = s->pos;
        if (s->pend < 0 && pos + 3 <= end) {   /* not while watching for Asyncify's check */
            switch (fast[d[pos]]) {
            case F_NONE: (*n_instr)++; s->pos = pos + 1; continue;
            case F_END:
                (*n_instr)++; s->pos = pos + 1;
                if (--depth == 0) return 0;
                continue;
            case F_LEB:
                /* 1 to 4 LEB bytes hold any value of either kind; 5 take the checks of the slow path */
                if (d[pos + 1] < 0x80) { (*n_instr)++; s->pos = pos + 2; continue; }
                if (pos + 5 <= end) {
                    size_t q = d[pos + 2] < 0x80 ? pos + 3 : d[pos + 3] < 0x80 ? pos + 4 : d[pos + 4] < 0x80 ? pos + 5 : 0;
                    if (q) { (*n_instr)++; s->pos = q; continue; }
                }
                break;
            case F_MEMARG:   /* no memory index (flags below 0x40), a one-byte offset */
                if (d[pos + 1] < 0x40 && d[pos + 2] < 0x80) { (*n_instr)++; s->pos = pos + 3; continue; }
                break;
            default: break;
            }
        }
        size_t start = s->pos;
        if (start >= s->end) FAIL(s, start, "function body or expression ends without its final `end`");
        uint8_t code = s->d[s->pos++];
        uint8_t kind = s->kinds[code], ev = s->evtab[code];
        cls = s->buse[code];
        if (code >= 0xfb && code <= 0xfe) {
            uint32_t sub;
            if (u32(s, &sub)) return -1;
            int p = code - 0xfb;
            if (sub >= PREFIX_SIZE || s->pk[p][sub] == ILLEGAL) {
                static const char *names[] = {"GC", "misc (bulk memory / table / trunc_sat)", "SIMD", "threads/atomics"};
                snprintf(s->errbuf, sizeof s->errbuf, "unknown opcode 0x%02x 0x%x (%s prefix)", code, sub, names[p]);
                FAIL(s, start, s->errbuf);
            }
            kind = s->pk[p][sub]; ev = s->pe[p][sub]; cls = s->puse[p][sub];
        } else if (kind == ILLEGAL) {
            snprintf(s->errbuf, sizeof s->errbuf, "unknown opcode 0x%02x", code);
            FAIL(s, start, s->errbuf);
        }
        use(s, cls, start);
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
        case BLOCK: if (blocktype(s, &cls)) return -1; use(s, cls, start); depth++; break;
        case TRY_TABLE: if (try_table(s, &cls)) return -1; use(s, cls, start); depth++; break;
        case U32X2:
            if (base == EV_CALL_INDIRECT) (*n_ind)++;
            if (u32(s, &a) || u32(s, &b)) return -1;
            if (ev && emit(s, ev, a, b, start)) return -1;
            if (b && base == EV_CALL_INDIRECT) use(s, U_OTHER_TABLE, start);
            break;
        case MEMARG: if (memarg(s, &a)) return -1; if (a) use(s, U_MULTI_MEMORY, start); break;
        case MEMIDX: if (u32(s, &a)) return -1; if (a) use(s, U_MULTI_MEMORY, start); break;
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
            for (uint32_t i = 0; i < n; i++) { if (valtype(s, &cls)) return -1; use(s, cls, start); }
            break;
        case HEAPTYPE:
            if (heaptype(s, &cls)) return -1;
            if (code == 0xd0) use(s, cls, start);   /* ref.null: the type it makes */
            break;
        case MEMARG_LANE: if (memarg(s, &a) || byte(s, &u8)) return -1; if (a) use(s, U_MULTI_MEMORY, start); break;
        case BYTE: if (byte(s, &u8)) return -1; break;
        case CAST:
            if (byte(s, &u8)) return -1;
            if (u8 > 3) {
                snprintf(s->errbuf, sizeof s->errbuf, "invalid cast flags 0x%02x", u8);
                FAIL(s, s->pos - 1, s->errbuf);
            }
            if (u32(s, &a) || heaptype(s, &cls) || heaptype(s, &cls)) return -1;
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
            size_t type_at = s->pos;
            uint8_t cls;
            if (valtype(s, &cls)) goto body_err_locals;
            use(s, cls, type_at);
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

static int setup(S *s, Py_buffer *data, Py_ssize_t start, Py_ssize_t end, unsigned num_funcs, unsigned num_globals,
                 Py_buffer *tables, Py_buffer *multi, int const_expr);
static void teardown(S *s);

static PyObject *vec_bytes(Vec *v) {
    return PyBytes_FromStringAndSize((const char *)v->p, (Py_ssize_t)(v->n * sizeof(uint32_t)));
}

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

/* The first-use offsets of a scan, or of two halves joined (b: the second half, or NULL): a class the
 * first half uses was first used there. */
static PyObject *first_uses(const S *a, const S *b) {
    uint32_t *o;
    PyObject *out = new_u32s(MAX_USES, &o);
    if (out)
        for (int k = 0; k < MAX_USES; k++) o[k] = b && !(a->uses >> k & 1) ? b->first[k] : a->first[k];
    return out;
}

/* scan(data, start, end, num_imported, num_funcs, num_globals, tables, data_count, multi)
 *   -> (bodies, events, counts: bytes of native-endian u32, uses: int, first uses: bytes of 64 u32),
 *   or ("error", offset, function or -1, message).
 * A big section is scanned as two halves on two threads (each body is scanned on its own, so the
 * halves joined are exactly the one-piece result; the first error in file order is the one reported). */
KERNEL native_scan(PyObject *self, PyObject *args) {
    Py_buffer data, tables, multi;
    Py_ssize_t start, end;
    unsigned int num_imported, num_funcs, num_globals;
    int data_count;
    if (!PyArg_ParseTuple(args, "y*nnIIIy*py*", &data, &start, &end, &num_imported, &num_funcs, &num_globals, &tables,
                          &data_count, &multi))
        return NULL;
    PyObject *result = NULL;
    S s, t;
    int two = 0;
    if (setup(&s, &data, start, end, num_funcs, num_globals, &tables, &multi, 0) == 0) {
        s.data_count = data_count;
        uint32_t count = 0, mid_i = 0;
        size_t first = 0, mid_pos = 0;
#ifdef HAVE_THREADS
        two = find_split(s.d, s.pos, s.end, &count, &first, &mid_i, &mid_pos) == 0;
        if (two && setup(&t, &data, (Py_ssize_t)mid_pos, end, num_funcs, num_globals, &tables, &multi, 0) != 0) {
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
                result = Py_BuildValue("(NNNKN)", concat(&s.bodies, &t.bodies), concat(&s.events, &t.events),
                                       concat(&s.counts, &t.counts), (unsigned long long)(s.uses | t.uses),
                                       first_uses(&s, &t));
            }
            teardown(&t);
#endif
        } else if (two == 0) {
            int rc;
            Py_BEGIN_ALLOW_THREADS
            rc = scan_section(&s, num_imported);
            Py_END_ALLOW_THREADS
            result = rc ? error_tuple(&s) : Py_BuildValue("(NNNKN)", vec_bytes(&s.bodies), vec_bytes(&s.events),
                                                          vec_bytes(&s.counts), (unsigned long long)s.uses,
                                                          first_uses(&s, NULL));
        }
    }
    teardown(&s);
    PyBuffer_Release(&data); PyBuffer_Release(&tables); PyBuffer_Release(&multi);
    return result;
}

/* The data section (code.py's scan_data_py): segments read to their last byte, offsets scanned as
 * constant expressions, bytes skipped; passive segments and memories other than 0 noted as uses. */
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
        if (flags == 1) use(s, U_PASSIVE_DATA, at);
        else if (flags == 2) {
            if (u32(s, &mem)) return -1;
            if (mem) use(s, U_DATA_MEMORY, at);
        }
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

/* A scanner over data[start:end] with the tables of opcodes.packed_tables(); `multi` (or NULL): per type
 * index, a block of that type is multi-value; `const_expr`: the expressions are constant ones (their
 * add, sub and mul are extended-const). The fast paths take what has no event and no use. */
static int setup(S *s, Py_buffer *data, Py_ssize_t start, Py_ssize_t end, unsigned num_funcs, unsigned num_globals,
                 Py_buffer *tables, Py_buffer *multi, int const_expr) {
    memset(s, 0, sizeof *s);
    s->func = UINT32_MAX;  /* "not inside a body": errors then name no function */
    for (int k = 0; k < MAX_USES; k++) s->first[k] = UINT32_MAX;
    if (tables->len != TABLES_SIZE || start < 0 || end > data->len || start > end) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to the scanner");
        return -1;
    }
    const uint8_t *t = tables->buf, *u = t + 512 + 8 * PREFIX_SIZE;   /* kinds and events, then uses */
    s->kinds = t; s->evtab = t + 256;
    for (int p = 0; p < 4; p++) {
        s->pk[p] = t + 512 + 2 * p * PREFIX_SIZE; s->pe[p] = s->pk[p] + PREFIX_SIZE;
        s->puse[p] = u + 512 + p * PREFIX_SIZE;
    }
    s->buse = const_expr ? u + 256 : u;
    s->tuse = u + 512 + 4 * PREFIX_SIZE;
    if (multi) { s->multi = multi->buf; s->nmulti = (size_t)multi->len; }
    for (int c = 0; c < 256; c++) {
        uint8_t k = s->kinds[c], e = s->evtab[c];
        s->fast[c] = s->buse[c] != NO_USE ? F_SLOW
                   : k == NONE ? (e == EV_END ? F_END : e ? F_SLOW : F_NONE)
                   : (k == U32 && !e) || k == I32 ? F_LEB : k == MEMARG ? F_MEMARG : F_SLOW;
    }
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

/* data(data, start, end, num_funcs, num_globals, tables) -> (end position, uses, first uses),
 * or ("error", offset, -1, message) */
KERNEL native_data(PyObject *self, PyObject *args) {
    Py_buffer data, tables;
    Py_ssize_t start, end;
    unsigned int num_funcs, num_globals;
    if (!PyArg_ParseTuple(args, "y*nnIIy*", &data, &start, &end, &num_funcs, &num_globals, &tables)) return NULL;
    PyObject *result = NULL;
    S s;
    if (setup(&s, &data, start, end, num_funcs, num_globals, &tables, NULL, 1) == 0) {
        s.data_count = 1;
        if (scan_data(&s)) result = error_tuple(&s);
        else result = Py_BuildValue("(nKN)", (Py_ssize_t)s.pos, (unsigned long long)s.uses, first_uses(&s, NULL));
    }
    teardown(&s);
    PyBuffer_Release(&data); PyBuffer_Release(&tables);
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
KERNEL native_u32_vec(PyObject *self, PyObject *args) {
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
KERNEL native_name_map(PyObject *self, PyObject *args) {
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
KERNEL native_exports(PyObject *self, PyObject *args) {
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
KERNEL native_records(PyObject *self, PyObject *args) {
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


/* The numbers this file shares with decode/opcodes.py, for tests/test_accel.py to compare. */
int native_decode_constants(PyObject *m) {
    static const struct { const char *name; long value; } consts[] = {
        {"NONE", NONE}, {"BLOCK", BLOCK}, {"U32", U32}, {"U32X2", U32X2}, {"BR_TABLE", BR_TABLE}, {"MEMARG", MEMARG},
        {"I32", I32}, {"I64", I64}, {"BYTES4", BYTES4}, {"BYTES8", BYTES8}, {"SELECT_T", SELECT_T},
        {"HEAPTYPE", HEAPTYPE}, {"TRY_TABLE", TRY_TABLE}, {"BYTES16", BYTES16}, {"MEMARG_LANE", MEMARG_LANE},
        {"BYTE", BYTE}, {"CAST", CAST}, {"RESUME", RESUME}, {"RESUME_THROW", RESUME_THROW}, {"ORDER_U32", ORDER_U32},
        {"ORDER_U32X2", ORDER_U32X2}, {"ZERO", ZERO}, {"MEMIDX", MEMIDX}, {"ILLEGAL", ILLEGAL},
        {"EV_NONE", EV_NONE}, {"EV_CALL", EV_CALL}, {"EV_CALL_INDIRECT", EV_CALL_INDIRECT}, {"EV_CALL_REF", EV_CALL_REF},
        {"EV_REF_FUNC", EV_REF_FUNC}, {"EV_GLOBAL_GET", EV_GLOBAL_GET}, {"EV_GLOBAL_SET", EV_GLOBAL_SET},
        {"EV_END", EV_END}, {"EV_DATA", EV_DATA}, {"EV_CALL_CHECK", EV_CALL_CHECK}, {"EV_TAIL", EV_TAIL},
        {"U_MULTI_MEMORY", U_MULTI_MEMORY}, {"U_OTHER_TABLE", U_OTHER_TABLE}, {"U_GCREF", U_GCREF},
        {"U_MULTI_VALUE", U_MULTI_VALUE}, {"U_PASSIVE_DATA", U_PASSIVE_DATA}, {"U_DATA_MEMORY", U_DATA_MEMORY},
        {"NO_USE", NO_USE}, {"CHECK_WINDOW", CHECK_WINDOW}, {"PREFIX_SIZE", PREFIX_SIZE},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0) return -1;
    return 0;
}
