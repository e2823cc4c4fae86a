/*
 * gateway.c - roomcast's gateway (gateway.h): the server, the application
 * and the routes put together, and the hand-off of events from the
 * history's threads to the loop.
 *
 * Implementation notes. Published events go into a mutex-protected array;
 * the first one into an empty array posts the drain task (gw_post), which
 * takes the whole array at once on the loop, so a burst costs one wake-up.
 * A resync is a flag checked by the same task before it delivers anything,
 * so a bus gap is handled before the events published after it. A key
 * reload travels as a task of its own, and so does each control message
 * (a copy), applied by the admin module on the loop. Ownership: the gateway
 * owns the server, the application, the admin module and the routes;
 * events in the array hold one reference each.
 */
#include "gateway/roomcast/gateway.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/log.h"
#include "gateway/roomcast/admin.h"
#include "core/metrics.h"
#include "gateway/roomcast/app.h"

#define FAC "gateway"

struct rc_gateway {
    gw_server *srv;   /* owned */
    rc_app *app;      /* owned */
    rc_admin *admin;  /* owned */
    rc_routes routes; /* demo_secret owned */
    int recovery_window_ms;

    pthread_mutex_t mu; /* guards pub and drain_posted */
    rc_event **pub;     /* owned array of owned references */
    size_t pub_len, pub_cap;
    int drain_posted; /* the drain task is queued */
    gw_task drain;    /* posted by publish and resync */
    atomic_int resync_requested;
};

/* ---- the loop side ---- */

static void deliver(rc_gateway *g, rc_event *ev)
{
    rc_app_publish(g->app, g->srv, ev);
    if (!ev->name || !ev->nrooms)
        return;
    /* Latency is measured from the Kafka record's timestamp. */
    if (gw_broadcast(g->srv, (const char *const *)ev->rooms, ev->nrooms, ev->name, ev->payload,
                     ev->payload_len, ev->offset, ev->kafka_ts_ms) < 0)
        LOG_ERROR(FAC, "out of memory broadcasting event %s", ev->id ? ev->id : "?");
    else
        rc_counter_inc(&rc_metrics.broadcast[rc_metrics_event(ev->name)]);
}

static void drain_run(gw_task *t, gw_server *srv)
{
    rc_gateway *g = (rc_gateway *)((char *)t - offsetof(rc_gateway, drain));
    pthread_mutex_lock(&g->mu);
    rc_event **batch = g->pub;
    size_t n = g->pub_len;
    g->pub = NULL;
    g->pub_len = g->pub_cap = 0;
    g->drain_posted = 0;
    pthread_mutex_unlock(&g->mu);

    int live = srv && !gw_server_stopping(srv);
    /* A gap is handled before what was published after it. */
    if (live && atomic_exchange(&g->resync_requested, 0)) {
        size_t k = gw_server_reconnect_all(srv, "bus gap: reconnect to catch up");
        LOG_WARN(FAC, "bus gap: %zu sessions asked to reconnect and catch up", k);
    }
    for (size_t i = 0; i < n; i++) {
        if (live)
            deliver(g, batch[i]);
        rc_event_unref(batch[i]);
    }
    free(batch);
}

/* Posts the drain task unless it is already queued. */
static void kick(rc_gateway *g)
{
    pthread_mutex_lock(&g->mu);
    int post = !g->drain_posted;
    g->drain_posted = 1;
    pthread_mutex_unlock(&g->mu);
    if (post)
        gw_post(g->srv, &g->drain);
}

/* ---- calls from any thread ---- */

int rc_gateway_publish(rc_gateway *g, rc_event *ev)
{
    pthread_mutex_lock(&g->mu);
    if (g->pub_len == g->pub_cap) {
        size_t cap = g->pub_cap ? g->pub_cap * 2 : 64;
        rc_event **p = realloc(g->pub, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&g->mu);
            return -1;
        }
        g->pub = p;
        g->pub_cap = cap;
    }
    g->pub[g->pub_len++] = rc_event_ref(ev);
    int post = !g->drain_posted;
    g->drain_posted = 1;
    pthread_mutex_unlock(&g->mu);
    /* A queued drain takes the whole array: no second wake-up. */
    if (post)
        gw_post(g->srv, &g->drain);
    return 0;
}

void rc_gateway_resync(rc_gateway *g)
{
    atomic_store(&g->resync_requested, 1);
    kick(g);
}

/* A verifier on its way to the loop (rc_gateway_set_verifier). */
struct verifier_task {
    gw_task task; /* first: the posted task */
    rc_gateway *g;
    rc_auth_verifier *v; /* ref'd */
};

static void verifier_task_run(gw_task *t, gw_server *srv)
{
    struct verifier_task *vt = (struct verifier_task *)t;
    if (srv)
        rc_app_set_verifier(vt->g->app, vt->v);
    rc_auth_verifier_unref(vt->v);
    free(vt);
}

int rc_gateway_set_verifier(rc_gateway *g, rc_auth_verifier *v)
{
    struct verifier_task *vt = v ? calloc(1, sizeof *vt) : NULL;
    if (!vt)
        return -1;
    vt->task.run = verifier_task_run;
    vt->g = g;
    vt->v = rc_auth_verifier_ref(v);
    gw_post(g->srv, &vt->task);
    return 0;
}

void rc_gateway_stop(rc_gateway *g)
{
    gw_server_stop(g->srv);
}

/* A control message on its way to the loop (rc_gateway_control). */
struct control_task {
    gw_task task; /* first: the posted task */
    rc_gateway *g;
    size_t len;
    char msg[]; /* a copy */
};

static void control_task_run(gw_task *t, gw_server *srv)
{
    struct control_task *ct = (struct control_task *)t;
    if (srv && !gw_server_stopping(srv))
        rc_admin_control(ct->g->admin, ct->msg, ct->len);
    free(ct);
}

int rc_gateway_control(rc_gateway *g, const char *msg, size_t len)
{
    struct control_task *ct = malloc(sizeof *ct + len + 1);
    if (!ct)
        return -1;
    memset(&ct->task, 0, sizeof ct->task);
    ct->task.run = control_task_run;
    ct->g = g;
    ct->len = len;
    memcpy(ct->msg, msg, len);
    ct->msg[len] = '\0';
    gw_post(g->srv, &ct->task);
    return 0;
}

/* The start-up hand-over (rc_gateway_open). */
struct open_task {
    gw_task task; /* first: the posted task */
    rc_gateway *g;
    rc_history *h;          /* borrowed */
    rc_membership *members; /* owned until adopted */
};

static void open_task_run(gw_task *t, gw_server *srv)
{
    struct open_task *ot = (struct open_task *)t;
    if (srv) {
        rc_app_set_history(ot->g->app, ot->h, ot->g->recovery_window_ms);
        rc_admin_set_history(ot->g->admin, ot->h);
        if (ot->members)
            rc_app_adopt_members(ot->g->app, ot->members);
        ot->members = NULL;
        gw_server_admit(srv);
    }
    rc_membership_destroy(ot->members);
    free(ot);
}

int rc_gateway_open(rc_gateway *g, rc_history *h, rc_membership *members)
{
    struct open_task *ot = calloc(1, sizeof *ot);
    if (!ot) {
        rc_membership_destroy(members);
        return -1;
    }
    ot->task.run = open_task_run;
    ot->g = g;
    ot->h = h;
    ot->members = members;
    gw_post(g->srv, &ot->task);
    return 0;
}

/* ---- after the loop ---- */

void rc_gateway_forget_history(rc_gateway *g)
{
    rc_app_set_history(g->app, NULL, g->recovery_window_ms);
    rc_admin_set_history(g->admin, NULL);
}

const char *rc_gateway_node(const rc_gateway *g)
{
    return rc_admin_node(g->admin);
}

int rc_gateway_port(const rc_gateway *g)
{
    return gw_server_port(g->srv);
}

int rc_gateway_run(rc_gateway *g)
{
    return gw_server_run(g->srv);
}

rc_gateway *rc_gateway_new(const rc_gateway_options *opts, rc_auth_verifier *auth, char *errstr,
                           size_t errlen)
{
    rc_gateway *g = calloc(1, sizeof *g);
    if (!g) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    atomic_init(&g->resync_requested, 0);
    g->drain.run = drain_run;
    g->recovery_window_ms = opts->recovery_window_ms;
    g->routes.hooks = opts->hooks;
    g->routes.demo = opts->demo;
    if ((opts->demo_secret && !(g->routes.demo_secret = strdup(opts->demo_secret))) ||
        !(g->app = rc_app_new(auth))) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (!(g->admin = rc_admin_new(opts->admin_token, g->app, &opts->hooks))) {
        rc_errf(errstr, errlen, "out of memory, or no randomness for the node id");
        goto fail;
    }
    g->routes.admin = rc_admin_answer;
    g->routes.admin_ud = g->admin;
    rc_app_set_limits(g->app, opts->jwt_leeway_s, opts->auth_grace_ms,
                      opts->max_connections_per_user);
    rc_app_set_routes(g->app, &g->routes);
    gw_options so = opts->server;
    so.app = rc_app_callbacks(g->app);
    so.socketio_path = "/socket.io/";
    so.engine_path = NULL;
    so.start_closed = 1; /* until rc_gateway_open() */
    if (!(g->srv = gw_server_new(&so, errstr, errlen)))
        goto fail;
    return g;

fail:
    rc_gateway_destroy(g);
    return NULL;
}

void rc_gateway_destroy(rc_gateway *g)
{
    if (!g)
        return;
    /* The server first: its sockets call into the application as they go,
     * and a queued drain task releases its events. */
    gw_server_destroy(g->srv);
    for (size_t i = 0; i < g->pub_len; i++)
        rc_event_unref(g->pub[i]);
    free(g->pub);
    rc_admin_destroy(g->admin);
    rc_app_destroy(g->app);
    free(g->routes.demo_secret);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
