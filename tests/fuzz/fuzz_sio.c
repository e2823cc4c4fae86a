/*
 * fuzz_sio.c - libFuzzer target for the Socket.IO packet parser.
 *
 * Every accepted packet is re-encoded from its parsed fields and parsed
 * again; the two parses must agree (type, namespace, attachments, id, data).
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/server/sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    sio_packet p, q;
    json_t *args = NULL;

    if (sio_parse_packet(buf, size, &p, &args) != SIO_OK) {
        if (args)
            abort();
        return 0;
    }
    if ((p.data.len == 0) != (args == NULL))
        abort();
    if (p.nsp.len == 0 || p.nsp.p[0] != '/')
        abort();
    json_decref(args);

    /* namespaces with NUL cannot be passed back as C strings */
    if (memchr(p.nsp.p, '\0', p.nsp.len))
        return 0;
    char *nsp = strndup(p.nsp.p, p.nsp.len);
    rc_buf out = {0};
    int rc;
    if (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK)
        rc = sio_encode_binary(&out, p.type, p.attachments, nsp, p.id,
                               p.data.p, p.data.len);
    else
        rc = sio_encode(&out, p.type, nsp, p.id, p.data.p, p.data.len);
    if (rc != SIO_OK)
        abort();
    if (sio_parse_packet(out.p, out.len, &q, NULL) != SIO_OK)
        abort();
    if (q.type != p.type || q.attachments != p.attachments || q.id != p.id ||
        q.nsp.len != p.nsp.len || memcmp(q.nsp.p, p.nsp.p, p.nsp.len) ||
        q.data.len != p.data.len || memcmp(q.data.p, p.data.p, p.data.len))
        abort();
    rc_buf_free(&out);
    free(nsp);
    return 0;
}
