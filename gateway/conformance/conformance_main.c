/*
 * conformance_main.c - roomcast-conformance: the Engine.IO/Socket.IO server
 * library (gateway/server/) and nothing else, with the reference configuration that the protocols'
 * public compliance suites expect (pingInterval 300 ms, pingTimeout 200 ms,
 * maxPayload 1000000, connect timeout 1000 ms, any CORS origin), serving an
 * echo application instead of roomcast's.
 *
 * On /engine.io/ it is a plain Engine.IO echo server: every message goes
 * back as it came, text or binary. On /socket.io/ the namespaces "/" and
 * "/custom" accept any CONNECT and emit "auth" with the CONNECT payload
 * ({} when there is none); "message" is answered with "message-back" and
 * the same arguments, attachments included; "message-with-ack" is
 * acknowledged with the same arguments. One addition for the gateway's own
 * tests of server-side acks: "emit-with-ack" makes the server emit
 * "ack-request" with the same arguments and an ack id, and the client's
 * acknowledgement comes back as "ack-response" with the ack's arguments.
 *
 * Usage: roomcast-conformance [--port 3000] [--listen HOST:PORT]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gateway/server/server.h"

#define FAC "conformance"

/* ---- the echo application ---- */

static int namespace_allowed(void *ud, const char *nsp)
{
    (void)ud;
    return strcmp(nsp, "/") == 0 || strcmp(nsp, "/custom") == 0;
}

static void on_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    if (gw_socket_accept(sk, NULL) < 0)
        return;
    if (hs->auth_raw.len)
        gw_socket_emit(sk, "auth", hs->auth_raw.p, hs->auth_raw.len, NULL, 0);
    else
        gw_socket_emit(sk, "auth", "{}", 2, NULL, 0);
}

static void on_ack_response(void *ud, gw_socket *sk, const gw_event *ack)
{
    (void)ud;
    if (ack) /* NULL: the socket went away first */
        gw_socket_emit(sk, "ack-response", ack->args_raw.p, ack->args_raw.len, ack->attachments,
                       ack->nattachments);
}

static void on_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    if (strcmp(ev->name, "message") == 0) {
        gw_socket_emit(sk, "message-back", ev->args_raw.p, ev->args_raw.len, ev->attachments,
                       ev->nattachments);
    } else if (strcmp(ev->name, "message-with-ack") == 0) {
        if (ev->ack_id >= 0)
            gw_socket_ack(sk, ev->ack_id, ev->args_raw.p, ev->args_raw.len, ev->attachments,
                          ev->nattachments);
    } else if (strcmp(ev->name, "emit-with-ack") == 0) {
        gw_socket_emit_ack(sk, "ack-request", ev->args_raw.p, ev->args_raw.len, ev->attachments,
                           ev->nattachments, on_ack_response, NULL);
    }
}

static void on_engine_message(void *ud, gw_session *s, const char *data, size_t len, int binary)
{
    (void)ud;
    gw_session_send_message(s, data, len, binary);
}

static const gw_app echo_app = {
    .namespace_allowed = namespace_allowed,
    .on_connect = on_connect,
    .on_event = on_event,
    .on_engine_message = on_engine_message,
};

/* ---- process ---- */

struct conformance {
    gw_server *gw;
    sigset_t sigs;
};

static void *signal_main(void *arg)
{
    struct conformance *c = arg;
    int sig = 0;
    sigwait(&c->sigs, &sig);
    LOG_INFO(FAC, "%s received: stopping", strsignal(sig));
    gw_server_stop(c->gw);
    return NULL;
}

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "Usage: %s [--port PORT] [--listen HOST:PORT]\n"
            "Engine.IO (/engine.io/) and Socket.IO (/socket.io/) echo server for the\n"
            "protocols' compliance suites: pingInterval 300 ms, pingTimeout 200 ms,\n"
            "maxPayload 1000000, connect timeout 1000 ms, any CORS origin.\n"
            "Default: --listen 127.0.0.1:3000 (port 0 picks a free one).\n",
            argv0);
}

int main(int argc, char **argv)
{
    char listen[300] = "127.0.0.1:3000", err[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, argv[0]);
            return 0;
        }
        if ((strcmp(a, "--port") == 0 || strcmp(a, "--listen") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'p') {
                char *end;
                long p = strtol(v, &end, 10);
                if (!*v || *end || p < 0 || p > 65535) {
                    fprintf(stderr, "%s: bad port '%s'\n", argv[0], v);
                    return 2;
                }
                snprintf(listen, sizeof listen, "127.0.0.1:%ld", p);
            } else if (strlen(v) < sizeof listen) {
                snprintf(listen, sizeof listen, "%s", v);
            } else {
                fprintf(stderr, "%s: listen address too long\n", argv[0]);
                return 2;
            }
            continue;
        }
        usage(stderr, argv[0]);
        return 2;
    }

    struct conformance c = {0};
    sigemptyset(&c.sigs);
    sigaddset(&c.sigs, SIGTERM);
    sigaddset(&c.sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &c.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    gw_options opts = {
        .app = &echo_app,
        .listen = listen,
        .ping_interval_ms = 300,
        .ping_timeout_ms = 200,
        .max_payload = 1000000,
        .connect_timeout_ms = 1000,
        .queue_max = 1024,
        .cors_origins = "*",
        .socketio_path = "/socket.io/",
        .engine_path = "/engine.io/",
    };
    if (!(c.gw = gw_server_new(&opts, err, sizeof err))) {
        LOG_ERROR(FAC, "%s", err);
        return 1;
    }
    pthread_t sigthread;
    if (pthread_create(&sigthread, NULL, signal_main, &c) != 0) {
        LOG_ERROR(FAC, "cannot start the signal thread");
        gw_server_destroy(c.gw);
        return 1;
    }
    gw_server_run(c.gw);
    pthread_join(sigthread, NULL);
    gw_server_destroy(c.gw);
    LOG_INFO(FAC, "stopped");
    return 0;
}
