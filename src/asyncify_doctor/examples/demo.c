/* asyncify-doctor's demo program: a tiny HTTP-ish client. The host's network and timer calls are
 * async (env.fetch_value, env.sleep_ms); printing (env.print_i32) is not.
 *
 * main_loop fetches three pages with retries, then hands each body to a handler picked from a
 * table of function pointers. One handler follows a redirect (another fetch), so the indirect call
 * in dispatch can suspend: dispatch must be instrumented, which only a typed look at the table
 * reveals. hash_body also calls through the table, but only pure (int, int) hashers can be there:
 * Binaryen's "any indirect call may unwind" instruments it, a typed look does not.
 * checksum, parse_status, handle_html and the hashers never suspend and stay out of the list.
 *
 * Rebuild with: python scripts/build_fixtures.py --demo
 */
#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))
#define KEEP __attribute__((noinline))

IMPORT(sleep_ms) void sleep_ms(int ms);
IMPORT(fetch_value) int fetch_value(int url);   /* the "network": returns url * 2 + 1 */
IMPORT(print_i32) void print_i32(int value);

typedef int (*handler)(int body);

KEEP int checksum(int x) { return (x * 2654435761u) >> 28; }
KEEP int parse_status(int body) { return body % 7 == 0 ? 503 : 200; }
KEEP int fetch_page(int url) { return fetch_value(url); }
KEEP int backoff(int attempt) { sleep_ms(10 << attempt); return attempt + 1; }

KEEP int get_with_retry(int url) {
    int body = fetch_page(url), attempt = 0;
    while (parse_status(body) != 200 && attempt < 3) {
        attempt = backoff(attempt);
        body = fetch_page(url + attempt);
    }
    return body;
}

KEEP int handle_html(int body) { return body + checksum(body); }
KEEP int handle_redirect(int body) { return fetch_page(body + 100); }
handler handlers[] = { handle_html, handle_redirect };

typedef int (*hasher)(int h, int v);
KEEP int mix_add(int h, int v) { return h * 31 + v; }
KEEP int mix_xor(int h, int v) { return (h << 5) ^ v; }
hasher hashers[] = { mix_add, mix_xor };
KEEP int hash_body(int algo, int body) { return hashers[algo & 1](17, body) & 0xff; }

KEEP int dispatch(int kind, int body) {
    print_i32(-kind);                 /* log which handler runs */
    return handlers[kind & 1](body);
}

EXPORT(main_loop) int main_loop(void) {
    int total = 0;
    for (int url = 1; url <= 3; url++) {
        int body = get_with_retry(url);
        print_i32(body);
        total += dispatch(url, body) + hash_body(url, body);
    }
    print_i32(total);
    return total;
}
