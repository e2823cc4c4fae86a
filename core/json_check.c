/*
 * json_check.c - a JSON object recogniser: recursive descent over the
 * text, nothing allocated.
 *
 * Implementation notes. The bytes are first checked as UTF-8 in one pass
 * (rc_utf8_valid), so the grammar below only looks at ASCII: everything at
 * or above 0x80 can only be inside a string, where any valid UTF-8 is
 * allowed. Recursion is bounded by RC_JSON_CHECK_DEPTH.
 */
#include "json_check.h"

#include "slice.h"
#include "utf8.h"

struct cur {
    const unsigned char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int lit(struct cur *c, const char *s)
{
    for (; *s; s++, c->p++)
        if (c->p >= c->end || *c->p != (unsigned char)*s)
            return 0;
    return 1;
}

static int hex4(struct cur *c, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++, c->p++) {
        if (c->p >= c->end)
            return 0;
        int d = rc_hex_digit((unsigned char)*c->p);
        if (d < 0)
            return 0;
        *v = *v << 4 | (unsigned)d;
    }
    return 1;
}

/* At the opening quote. */
static int string(struct cur *c)
{
    c->p++;
    while (c->p < c->end) {
        unsigned char b = *c->p++;
        if (b == '"')
            return 1;
        if (b < 0x20)
            return 0;
        if (b != '\\')
            continue;
        if (c->p >= c->end)
            return 0;
        b = *c->p++;
        if (b == 'u') {
            unsigned u, lo;
            if (!hex4(c, &u) || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
                return 0;
            if (u >= 0xd800 && u <= 0xdbff &&
                (!lit(c, "\\u") || !hex4(c, &lo) || lo < 0xdc00 || lo > 0xdfff))
                return 0;
        } else if (b != '"' && b != '\\' && b != '/' && b != 'b' && b != 'f' && b != 'n' &&
                   b != 'r' && b != 't') {
            return 0;
        }
    }
    return 0;
}

static int digits(struct cur *c)
{
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

static int number(struct cur *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!digits(c))
        return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c))
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!digits(c))
            return 0;
    }
    return 1;
}

static int value(struct cur *c, int depth);

/* At the opening bracket or brace. */
static int container(struct cur *c, int depth, int object)
{
    unsigned char close = object ? '}' : ']';
    if (depth >= RC_JSON_CHECK_DEPTH)
        return 0;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        if (object) {
            if (c->p >= c->end || *c->p != '"' || !string(c))
                return 0;
            ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return 0;
            ws(c);
        }
        if (!value(c, depth + 1))
            return 0;
        ws(c);
        if (c->p >= c->end)
            return 0;
        unsigned char b = *c->p++;
        if (b == close)
            return 1;
        if (b != ',')
            return 0;
        ws(c);
    }
}

static int value(struct cur *c, int depth)
{
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '{': return container(c, depth, 1);
    case '[': return container(c, depth, 0);
    case '"': return string(c);
    case 't': return lit(c, "true");
    case 'f': return lit(c, "false");
    case 'n': return lit(c, "null");
    default:
        return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && number(c);
    }
}

int rc_json_check_object(const char *p, size_t len)
{
    if (!len || !rc_utf8_valid(p, len))
        return 0;
    struct cur c = {(const unsigned char *)p, (const unsigned char *)p + len};
    ws(&c);
    if (c.p >= c.end || *c.p != '{' || !container(&c, 0, 1))
        return 0;
    ws(&c);
    return c.p == c.end;
}
