/*
 * fuzz_http.c - libFuzzer target for what gateway/server/http.c parses
 * itself: request bodies (chunked, or delimited by Content-Length) as
 * gw_http_body_feed() reads them, header value lists (gw_http_list_has(),
 * for Connection and Transfer-Encoding) and the Engine.IO path of a request
 * (gw_http_engine_route()). lws parses the request line, the headers and the
 * query string (url-decoded, one fragment per argument); none of these
 * functions calls it, so no lws context is needed.
 *
 * Input: byte 0 % 4 picks the mode, byte 1 the body limit (low 2 bits:
 * 16, 100, 4096 or 100000 bytes, as maxPayload) and how lws splits the body
 * into callbacks (the other bits seed the piece sizes); the rest is:
 *  0: a chunked body. Fed whole and fed in pieces, it must give the same
 *     bytes and the same verdict, and both must agree with a one-shot
 *     reading of RFC 9112 7.1 below (ref_chunked) with http.c's limits
 *     (1024-byte size lines, 8192 bytes of trailer section).
 *  1: data that the harness encodes as a valid chunked body (chunk sizes,
 *     extensions and trailer fields drawn from the data): it must decode
 *     to the data, or be refused as too big exactly when it is over the
 *     limit.
 *  2: a body of known length, in pieces: kept whole up to the limit,
 *     flagged too big past it, never more than the limit kept.
 *  3: NUL-separated strings: a header value, a token and a request path;
 *     gw_http_list_has() must agree with splitting the value on ',' and
 *     trimming spaces and tabs, and gw_http_engine_route() with the path
 *     compared to the configured ones, with or without their trailing '/'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/server/transport_private.h"

static const size_t maxes[] = {16, 100, 4096, 100000};

/* ---- piece sizes: how lws might split a body into callbacks ---- */

typedef struct pieces {
    uint32_t x;
} pieces;

static size_t piece_next(pieces *s, size_t left)
{
    s->x = s->x * 1103515245u + 12345u;
    size_t n = 1 + (s->x >> 16) % 7;
    if ((s->x >> 8) % 5 == 0)
        n = 1 + (s->x >> 12) % 300;
    return n < left ? n : left;
}

/* ---- the reference reading of a chunked body ---- */

enum verdict { V_MORE, V_DONE, V_BAD, V_TOO_BIG };

static int hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * chunked-body = *chunk last-chunk trailer-section CRLF
 * chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * Read in one pass over the whole input, line by line. A size line (digits,
 * extensions, CR) may be 1024 bytes long; extensions start with ';', SP or
 * HTAB and hold no control character but HTAB; the trailer section (LFs
 * not counted) 8192 bytes. A size is too big as soon as one more digit
 * cannot fit in what is left of max (size > (max - kept) / 16 before the
 * digit), or at the end of its line when it is over what is left. Bytes
 * after the end are not looked at. The data kept goes to out.
 */
static enum verdict ref_chunked(const unsigned char *p, size_t len, size_t max, rc_buf *out)
{
    size_t i = 0;
    for (;;) {
        size_t line = 0, size = 0;
        if (i == len)
            return V_MORE;
        if (hex(p[i]) < 0)
            return V_BAD;
        while (i < len && hex(p[i]) >= 0) {
            if (++line > 1024)
                return V_BAD;
            if (size > (max - out->len) / 16)
                return V_TOO_BIG;
            size = size * 16 + (size_t)hex(p[i]);
            i++;
        }
        if (i == len)
            return V_MORE;
        if (++line > 1024)
            return V_BAD;
        if (p[i] == ';' || p[i] == ' ' || p[i] == '\t') {
            i++;
            for (;;) {
                if (i == len)
                    return V_MORE;
                if (++line > 1024)
                    return V_BAD;
                if (p[i] == '\r')
                    break;
                if (p[i] < 0x20 && p[i] != '\t')
                    return V_BAD;
                i++;
            }
        } else if (p[i] != '\r') {
            return V_BAD;
        }
        i++; /* CR */
        if (i == len)
            return V_MORE;
        if (p[i++] != '\n')
            return V_BAD;
        if (size > max - out->len)
            return V_TOO_BIG;
        if (size == 0)
            break;
        size_t n = len - i < size ? len - i : size;
        rc_buf_append(out, (const char *)p + i, n);
        i += n;
        if (n < size)
            return V_MORE;
        if (i == len)
            return V_MORE;
        if (p[i++] != '\r')
            return V_BAD;
        if (i == len)
            return V_MORE;
        if (p[i++] != '\n')
            return V_BAD;
    }
    /* trailer-section: field lines up to an empty line */
    size_t trailer = 0;
    for (;;) {
        int empty = 1;
        for (;;) {
            if (i == len)
                return V_MORE;
            if (++trailer > 8192)
                return V_BAD;
            if (p[i] == '\n')
                return V_BAD;
            if (p[i++] == '\r')
                break;
            empty = 0;
        }
        if (i == len)
            return V_MORE;
        if (p[i++] != '\n')
            return V_BAD;
        if (empty)
            return V_DONE;
    }
}

/* ---- the decoder under test ---- */

static enum verdict verdict_of(const gw_conn *c, int rc)
{
    /* -1 is out of memory: not with these sizes */
    if (rc < 0 || rc > 1 || (c->in_bad && c->in_too_big))
        abort();
    /* a refused body is complete: nothing more is read */
    if ((c->in_bad || c->in_too_big) && rc != 1)
        abort();
    if (c->in_bad)
        return V_BAD;
    if (c->in_too_big)
        return V_TOO_BIG;
    return rc == 1 ? V_DONE : V_MORE;
}

static void conn_init(gw_conn *c, int chunked)
{
    memset(c, 0, sizeof *c);
    c->in_chunked = chunked;
    c->keep_alive = 1;
}

/* Feeds body in pieces (whole when seed is 0); returns the verdict. */
static enum verdict feed(gw_conn *c, const unsigned char *body, size_t len, size_t max,
                         uint32_t seed)
{
    int rc = 0;
    if (!seed) {
        rc = gw_http_body_feed(c, (const char *)body, len, max);
    } else {
        pieces s = {seed};
        for (size_t off = 0; off < len;) {
            size_t n = piece_next(&s, len - off);
            rc = gw_http_body_feed(c, (const char *)body + off, n, max);
            off += n;
            if (rc != 0 && off < len) {
                /* once complete, more bytes change nothing */
                size_t kept = c->in.len;
                int again = gw_http_body_feed(c, (const char *)body + off, len - off, max);
                if (again != 1 || c->in.len != kept)
                    abort();
                break;
            }
        }
    }
    if (c->in.len > max || c->in.len > len)
        abort();
    enum verdict v = verdict_of(c, rc);
    if ((v == V_BAD || v == V_TOO_BIG) && !c->close_after)
        abort(); /* the rest of a refused body is not read */
    return v;
}

static int same_bytes(const rc_buf *a, const rc_buf *b)
{
    return a->len == b->len && (!a->len || memcmp(a->p, b->p, a->len) == 0);
}

static void fuzz_chunked(const unsigned char *p, size_t len, size_t max, uint32_t seed)
{
    gw_conn whole, split;
    rc_buf want = {0};
    conn_init(&whole, 1);
    conn_init(&split, 1);
    enum verdict v1 = feed(&whole, p, len, max, 0);
    enum verdict v2 = feed(&split, p, len, max, seed | 1);
    enum verdict vr = ref_chunked(p, len, max, &want);
    if (v1 != v2 || v1 != vr || !same_bytes(&whole.in, &split.in) || !same_bytes(&whole.in, &want))
        abort();
    rc_buf_free(&whole.in);
    rc_buf_free(&split.in);
    rc_buf_free(&want);
}

/* Encodes data as a chunked body, drawing the framing from data itself. */
static void encode_chunked(rc_buf *out, const unsigned char *data, size_t len, uint32_t seed)
{
    static const char *const exts[] = {"", ";a=b", ";x", " ;q=\"1\"", "\t;n=v\t"};
    static const char *const trailers[] = {"", "X-T: 1\r\n", "Foo: bar\r\nBaz:\r\n"};
    pieces s = {seed | 1};
    for (size_t off = 0; off < len;) {
        size_t n = piece_next(&s, len - off);
        rc_buf_printf(out, (s.x & 0x40) ? "%zX%s\r\n" : "%04zx%s\r\n", n, exts[s.x % 5]);
        rc_buf_append(out, (const char *)data + off, n);
        rc_buf_append(out, "\r\n", 2);
        off += n;
    }
    rc_buf_printf(out, "0%s\r\n%s\r\n", exts[(s.x >> 3) % 5], trailers[(s.x >> 5) % 3]);
}

static void fuzz_roundtrip(const unsigned char *p, size_t len, size_t max, uint32_t seed)
{
    rc_buf body = {0};
    encode_chunked(&body, p, len, seed);
    gw_conn c;
    conn_init(&c, 1);
    enum verdict v = feed(&c, (const unsigned char *)body.p, body.len, max, seed);
    if (len > max) {
        if (v != V_TOO_BIG)
            abort();
    } else if (v != V_DONE || c.in.len != len || (len && memcmp(c.in.p, p, len) != 0)) {
        abort();
    }
    /* a truncated body is never complete */
    if (body.len > 1) {
        gw_conn t;
        conn_init(&t, 1);
        enum verdict vt = feed(&t, (const unsigned char *)body.p, body.len - 1, max, seed);
        if (vt == V_DONE || (len <= max && vt != V_MORE))
            abort();
        rc_buf_free(&t.in);
    }
    rc_buf_free(&c.in);
    rc_buf_free(&body);
}

static void fuzz_length(const unsigned char *p, size_t len, size_t max, uint32_t seed)
{
    gw_conn c;
    conn_init(&c, 0);
    enum verdict v = feed(&c, p, len, max, seed);
    if (len > max ? v != V_TOO_BIG : (v != V_MORE || c.in.len != len))
        abort();
    if (c.in.len && memcmp(c.in.p, p, c.in.len) != 0)
        abort();
    if (v == V_MORE && c.close_after)
        abort(); /* a body read whole keeps the connection */
    rc_buf_free(&c.in);
}

/* ---- header value lists and the request path ---- */

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* ASCII case folding, as strncasecmp() does in the C locale. */
static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

static int ref_list_has(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && is_ows(*a))
            a++;
        while (b > a && is_ows(b[-1]))
            b--;
        if ((size_t)(b - a) == tl) {
            size_t k = 0;
            while (k < tl && lower(a[k]) == lower(tok[k]))
                k++;
            if (k == tl)
                return 1;
        }
        if (!*e)
            return 0;
        p = e + 1;
    }
}

static int ref_path_is(const char *path, const char *want)
{
    size_t n = strlen(want);
    if (strcmp(path, want) == 0)
        return 1;
    return want[n - 1] == '/' && strlen(path) == n - 1 && strncmp(path, want, n - 1) == 0;
}

static void fuzz_headers(const unsigned char *p, size_t len)
{
    /* value \0 token \0 path */
    char *s = malloc(len + 1);
    memcpy(s, p, len);
    s[len] = '\0';
    const char *value = s, *tok = "close", *path = "/socket.io/";
    size_t l0 = strlen(s);
    if (l0 < len) {
        tok = s + l0 + 1;
        size_t l1 = strlen(tok);
        if (l0 + 1 + l1 < len)
            path = tok + l1 + 1;
    }
    /* a token is never empty and holds no separator (RFC 9110 5.6.2) */
    if (tok[0] && !strpbrk(tok, ", \t")) {
        int got = gw_http_list_has(value, tok);
        if (got != ref_list_has(value, tok))
            abort();
        /* adding the token to the list makes it found */
        rc_buf b = {0};
        rc_buf_printf(&b, "%s ,\t%s", value, tok);
        if (!gw_http_list_has(b.p, tok))
            abort();
        rc_buf_free(&b);
    }

    static gw_server srv;
    srv.opt.socketio_path = "/socket.io/";
    srv.opt.engine_path = (len & 1) ? "/engine.io/" : NULL;
    int route = gw_http_engine_route(&srv, path);
    int want = ref_path_is(path, "/socket.io/")                                ? 0
               : srv.opt.engine_path && ref_path_is(path, srv.opt.engine_path) ? 1
                                                                               : -1;
    if (route != want)
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0] % 4;
    size_t max = maxes[data[1] & 3];
    uint32_t seed = data[1] >> 2;
    const unsigned char *p = data + 2;
    size_t len = size - 2;

    switch (mode) {
    case 0:
        fuzz_chunked(p, len, max, seed);
        break;
    case 1:
        fuzz_roundtrip(p, len, max, seed);
        break;
    case 2:
        fuzz_length(p, len, max, seed);
        break;
    default:
        fuzz_headers(p, len);
        break;
    }
    return 0;
}
