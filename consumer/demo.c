/*
 * demo.c - the demo producer: a small simulated world of three users and
 * three programs whose activity is written to Kafka as Avro.
 *
 * Implementation notes: one thread owns everything (the librdkafka producer,
 * its own codec, the world state and the random generator); the creating
 * thread only shares the stop flag, under a mutex, and the counters, which
 * are atomics. The thread waits between records on a condition variable
 * with a CLOCK_MONOTONIC deadline, so rc_demo_destroy() wakes it at once.
 *
 * The world: alice is in p1 and p2, bob in p2, carol in p3 (published first
 * as member:added). Each program keeps a few live requests, each with a
 * status, an assignee among the program's members, and a few live comments
 * and attachments, so that updates, deletions and assignments refer to
 * things that exist. At most one job runs at a time, owned by a user; it
 * goes STARTED, PROGRESS..., COMPLETED or FAILED. Now and then bob joins p1
 * and later leaves it again. Records are keyed by program_id (user_id for
 * jobs) so that each program's and each user's story stays in order, and the
 * framing rotates bare, single-object, Confluent so that consumers see all
 * three.
 */
#include "demo.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/slice.h"
#include "codec.h"
#include "codec_json.h"
#include "kafka_conf.h"

enum { NUSERS = 3, NPROGS = 3, MAXREQ = 5, MAXSUB = 4 };
enum { REC_REQUEST, REC_COMMENT, REC_ATTACHMENT, REC_MEMBERSHIP, REC_JOB, NREC };

static const char *const rec_names[NREC] = {
    "RequestMutation", "CommentMutation", "AttachmentMutation",
    "ProgramMembership", "JobEvent",
};

static const struct {
    const char *id, *name;
} users[NUSERS] = {
    {"alice", "Alice Martin"}, {"bob", "Bob Chen"}, {"carol", "Carol Diaz"},
};
static const char *const programs[NPROGS] = {"p1", "p2", "p3"};

static const char *const title_verbs[] = {
    "Renew", "Review", "Update", "Order", "Fix", "Plan", "Approve", "Draft",
};
static const char *const title_objects[] = {
    "lab equipment budget", "onboarding checklist", "travel policy",
    "vendor contract", "workshop schedule", "data retention notice",
    "grant application", "room booking system", "printer on floor 2",
    "quarterly newsletter",
};
static const char *const comments[] = {
    "Looks good to me.", "Can we get a second quote?",
    "Moved to next week, waiting on finance.", "I'll take this one.",
    "Legal has signed off.", "Updated the numbers, please re-check.",
    "Done on my side.", "Who owns the follow-up?",
    "Attached the latest version.", "Let's discuss this on Thursday.",
};
static const struct {
    const char *name, *type;
    long min, max;
} files[] = {
    {"quote-2026.pdf", "application/pdf", 40000, 900000},
    {"floor-plan.png", "image/png", 200000, 3000000},
    {"budget.xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     15000, 400000},
    {"meeting-notes.md", "text/markdown", 800, 12000},
    {"contract-signed.pdf", "application/pdf", 100000, 2500000},
    {"site-photo.jpg", "image/jpeg", 500000, 6000000},
};
static const char *const statuses[] = {"open", "in_progress", "in_review",
                                       "done"};
static const char *const fields[] = {"title", "description", "due_date",
                                     "priority"};
static const char *const job_kinds[] = {"CSV export", "monthly report",
                                        "attachment re-index"};
static const struct {
    const char *id, *name;
} admin = {"admin", "Program Admin"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct req {
    unsigned id;
    int status;   /* index in statuses */
    int assignee; /* user index, -1 none */
    char title[96];
    unsigned comments[MAXSUB];
    int ncomments;
    unsigned attachments[MAXSUB];
    int nattachments;
};

struct prog {
    struct req reqs[MAXREQ];
    int nreqs;
    unsigned members; /* bit per user */
};

struct job {
    int active;
    unsigned id;
    int user;
    int prog; /* -1: none */
    int kind;
    int progress;
};

struct rc_demo {
    rd_kafka_t *rk;        /* owned */
    rc_codec *codec;       /* owned, used by the thread only */
    const char *topics[NREC];  /* borrowed from the catalog */
    const char *records[NREC]; /* full names, borrowed from the catalog */
    int interval_ms;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop; /* under mu */

    atomic_ulong produced, delivered, failed;

    /* thread-only state */
    uint64_t rng;
    unsigned next_id; /* request, comment, attachment and job ids */
    unsigned nrec;    /* records encoded, for the framing rotation */
    unsigned warned[NREC]; /* bit per framing that failed to encode */
    struct prog progs[NPROGS];
    struct job job;
    int bob_in_p1;
    rc_buf json;
    rc_buf out;
};

/* ---- randomness ---------------------------------------------------------- */

static uint64_t rnd(rc_demo *d)
{
    /* xorshift64* */
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int rnd_below(rc_demo *d, int n)
{
    return n > 0 ? (int)(rnd(d) % (uint64_t)n) : 0;
}


/* ---- JSON building -------------------------------------------------------- */

/* Appends ,"key": (no comma before the first field of the object). */
static void jkey(rc_buf *b, const char *key)
{
    if (b->len && b->p[b->len - 1] != '{')
        rc_buf_puts(b, ",");
    rc_buf_json_string(b, key, strlen(key));
    rc_buf_puts(b, ":");
}

static void jstr(rc_buf *b, const char *key, const char *val)
{
    jkey(b, key);
    if (val)
        rc_buf_json_string(b, val, strlen(val));
    else
        rc_buf_puts(b, "null");
}

static void jnum(rc_buf *b, const char *key, long long val)
{
    jkey(b, key);
    rc_buf_printf(b, "%lld", val);
}

/* Starts a record: {"event_id":...,"occurred_at":...[,"performed_by":...] */
static void jbegin(rc_demo *d, int actor)
{
    char id[37];
    if (rc_uuid4(id) < 0) /* the kernel refused: a unique id all the same */
        snprintf(id, sizeof id, "demo-%016llx", (unsigned long long)rnd(d));
    rc_buf_reset(&d->json);
    rc_buf_puts(&d->json, "{");
    jstr(&d->json, "event_id", id);
    jnum(&d->json, "occurred_at", rc_clock_wall_ms());
    if (actor == -2)
        return; /* JobEvent has no performed_by */
    jkey(&d->json, "performed_by");
    rc_buf_puts(&d->json, "{");
    jstr(&d->json, "user_id", actor < 0 ? admin.id : users[actor].id);
    jstr(&d->json, "name", actor < 0 ? admin.name : users[actor].name);
    rc_buf_puts(&d->json, "}");
}

/* ---- producing ------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    rc_demo *d = opaque;
    if (m->err) {
        unsigned long n = atomic_fetch_add(&d->failed, 1) + 1;
        /* First failures in full, then one line per hundred. */
        if (n <= 10 || n % 100 == 0)
            LOG_WARN("demo", "delivery to %s failed: %s (%lu failed so far)",
                     rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err), n);
    } else {
        atomic_fetch_add(&d->delivered, 1);
    }
}

/* Encodes d->json as record rec and produces it keyed by key. */
static void emit(rc_demo *d, int rec, const char *key)
{
    static const enum rc_framing rotation[] = {
        RC_FRAMING_BARE, RC_FRAMING_SINGLE_OBJECT, RC_FRAMING_CONFLUENT};
    char err[256];
    int encoded = 0;

    rc_buf_puts(&d->json, "}");
    /* Rotate framings; should one be unavailable (no registry id for the
     * schema), fall back to the next so the stream does not stop. */
    for (size_t k = 0; k < N(rotation) && !encoded; k++) {
        enum rc_framing f = rotation[(d->nrec + k) % N(rotation)];
        rc_buf_reset(&d->out);
        if (rc_codec_encode_json(d->codec, d->records[rec], d->json.p,
                                 d->json.len, f, &d->out, err, sizeof err) == 0) {
            encoded = 1;
        } else if (!(d->warned[rec] & (1u << f))) {
            d->warned[rec] |= 1u << f;
            LOG_WARN("demo", "cannot encode %s as %s, using another framing: %s",
                     rec_names[rec], rc_framing_name(f), err);
        }
    }
    d->nrec++;
    if (!encoded)
        return;

    for (int tries = 0; tries < 50; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            d->rk, RD_KAFKA_V_TOPIC(d->topics[rec]),
            RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(d->out.p, d->out.len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add(&d->produced, 1);
            return;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            LOG_WARN("demo", "cannot produce to %s: %s", d->topics[rec],
                     rd_kafka_err2str(e));
            return;
        }
        rd_kafka_poll(d->rk, 100);
    }
    LOG_WARN("demo", "producer queue full, record for %s dropped",
             d->topics[rec]);
}

/* ---- the world ------------------------------------------------------------ */

static int member_of(const rc_demo *d, int p, int u)
{
    return (d->progs[p].members >> u) & 1;
}

static int random_member(rc_demo *d, int p)
{
    int pick[NUSERS], n = 0;
    for (int u = 0; u < NUSERS; u++)
        if (member_of(d, p, u))
            pick[n++] = u;
    return n ? pick[rnd_below(d, n)] : -1;
}

static void membership(rc_demo *d, int p, int u, int added)
{
    jbegin(d, -1);
    jstr(&d->json, "action", added ? "ADDED" : "REMOVED");
    jstr(&d->json, "program_id", programs[p]);
    jstr(&d->json, "user_id", users[u].id);
    if (added)
        jstr(&d->json, "role", u == 0 ? "owner" : "member");
    else
        jstr(&d->json, "role", NULL);
    emit(d, REC_MEMBERSHIP, programs[p]);
    if (added)
        d->progs[p].members |= 1u << u;
    else
        d->progs[p].members &= ~(1u << u);
}

/* Starts a request record for program p with its common fields. */
static void req_begin(rc_demo *d, int p, const char *action,
                      const struct req *r)
{
    char rid[24];
    int who = random_member(d, p);
    snprintf(rid, sizeof rid, "r%u", r->id);
    jbegin(d, who < 0 ? -1 : who);
    jstr(&d->json, "action", action);
    jstr(&d->json, "program_id", programs[p]);
    jstr(&d->json, "request_id", rid);
}

static void request_created(rc_demo *d, int p)
{
    struct prog *pg = &d->progs[p];
    struct req *r;
    if (pg->nreqs < MAXREQ) {
        r = &pg->reqs[pg->nreqs++];
    } else {
        /* Forget the oldest request; the program keeps a handful live. */
        memmove(&pg->reqs[0], &pg->reqs[1], (MAXREQ - 1) * sizeof pg->reqs[0]);
        r = &pg->reqs[MAXREQ - 1];
    }
    memset(r, 0, sizeof *r);
    r->id = ++d->next_id;
    r->assignee = -1;
    snprintf(r->title, sizeof r->title, "%s %s",
             title_verbs[rnd_below(d, N(title_verbs))],
             title_objects[rnd_below(d, N(title_objects))]);
    req_begin(d, p, "CREATED", r);
    jstr(&d->json, "title", r->title);
    jstr(&d->json, "to_status", statuses[0]);
    emit(d, REC_REQUEST, programs[p]);
}

static void request_updated(rc_demo *d, int p, struct req *r)
{
    int a = rnd_below(d, N(fields)), b = rnd_below(d, N(fields));
    if (a == 0 || b == 0)
        snprintf(r->title, sizeof r->title, "%s %s",
                 title_verbs[rnd_below(d, N(title_verbs))],
                 title_objects[rnd_below(d, N(title_objects))]);
    req_begin(d, p, "UPDATED", r);
    jstr(&d->json, "title", r->title);
    jkey(&d->json, "changed_fields");
    rc_buf_puts(&d->json, "[");
    rc_buf_json_string(&d->json, fields[a], strlen(fields[a]));
    if (b != a) {
        rc_buf_puts(&d->json, ",");
        rc_buf_json_string(&d->json, fields[b], strlen(fields[b]));
    }
    rc_buf_puts(&d->json, "]");
    emit(d, REC_REQUEST, programs[p]);
}

static void request_status(rc_demo *d, int p, struct req *r)
{
    int from = r->status;
    /* Mostly forward, sometimes back to open (reopened). */
    int to = from + 1 < (int)N(statuses) && rnd_below(d, 5) ? from + 1 : 0;
    if (to == from)
        to = 1;
    r->status = to;
    req_begin(d, p, "STATUS_CHANGED", r);
    jstr(&d->json, "from_status", statuses[from]);
    jstr(&d->json, "to_status", statuses[to]);
    emit(d, REC_REQUEST, programs[p]);
}

static void request_assigned(rc_demo *d, int p, struct req *r)
{
    int prev = r->assignee, to = random_member(d, p);
    if (to == prev && to >= 0) {
        /* Prefer a change of hands when the program has someone else. */
        for (int u = 0; u < NUSERS; u++)
            if (u != prev && member_of(d, p, u))
                to = u;
    }
    if (to < 0)
        return;
    r->assignee = to;
    req_begin(d, p, "ASSIGNED", r);
    jstr(&d->json, "assignee_id", users[to].id);
    jstr(&d->json, "previous_assignee_id", prev >= 0 ? users[prev].id : NULL);
    emit(d, REC_REQUEST, programs[p]);
}

static void sub_begin(rc_demo *d, int p, const struct req *r,
                      const char *action)
{
    char rid[24];
    int who = random_member(d, p);
    snprintf(rid, sizeof rid, "r%u", r->id);
    jbegin(d, who < 0 ? -1 : who);
    jstr(&d->json, "action", action);
    jstr(&d->json, "program_id", programs[p]);
    jstr(&d->json, "request_id", rid);
}

static void push_id(unsigned *ids, int *n, unsigned id)
{
    if (*n == MAXSUB) {
        memmove(ids, ids + 1, (MAXSUB - 1) * sizeof *ids);
        (*n)--;
    }
    ids[(*n)++] = id;
}

static unsigned pop_random(rc_demo *d, unsigned *ids, int *n)
{
    int i = rnd_below(d, *n);
    unsigned id = ids[i];
    ids[i] = ids[--(*n)];
    return id;
}

static void comment_added(rc_demo *d, int p, struct req *r)
{
    char cid[24];
    unsigned id = ++d->next_id;
    snprintf(cid, sizeof cid, "c%u", id);
    sub_begin(d, p, r, "ADDED");
    jstr(&d->json, "comment_id", cid);
    jstr(&d->json, "body_preview", comments[rnd_below(d, N(comments))]);
    emit(d, REC_COMMENT, programs[p]);
    push_id(r->comments, &r->ncomments, id);
}

static void comment_deleted(rc_demo *d, int p, struct req *r)
{
    char cid[24];
    snprintf(cid, sizeof cid, "c%u", pop_random(d, r->comments, &r->ncomments));
    sub_begin(d, p, r, "DELETED");
    jstr(&d->json, "comment_id", cid);
    emit(d, REC_COMMENT, programs[p]);
}

static void attachment_uploaded(rc_demo *d, int p, struct req *r)
{
    char aid[24];
    unsigned id = ++d->next_id;
    int f = rnd_below(d, N(files));
    long size = files[f].min +
                (long)(rnd(d) % (uint64_t)(files[f].max - files[f].min));
    snprintf(aid, sizeof aid, "a%u", id);
    sub_begin(d, p, r, "UPLOADED");
    jstr(&d->json, "attachment_id", aid);
    jstr(&d->json, "file_name", files[f].name);
    jstr(&d->json, "content_type", files[f].type);
    jnum(&d->json, "size_bytes", size);
    emit(d, REC_ATTACHMENT, programs[p]);
    push_id(r->attachments, &r->nattachments, id);
}

static void attachment_deleted(rc_demo *d, int p, struct req *r)
{
    char aid[24];
    snprintf(aid, sizeof aid, "a%u",
             pop_random(d, r->attachments, &r->nattachments));
    sub_begin(d, p, r, "DELETED");
    jstr(&d->json, "attachment_id", aid);
    emit(d, REC_ATTACHMENT, programs[p]);
}

static void job_record(rc_demo *d, const char *state, const char *message)
{
    char jid[24];
    snprintf(jid, sizeof jid, "j%u", d->job.id);
    jbegin(d, -2);
    jstr(&d->json, "state", state);
    jstr(&d->json, "job_id", jid);
    jstr(&d->json, "user_id", users[d->job.user].id);
    jstr(&d->json, "program_id", d->job.prog >= 0 ? programs[d->job.prog] : NULL);
    jnum(&d->json, "progress", d->job.progress);
    jstr(&d->json, "message", message);
    emit(d, REC_JOB, users[d->job.user].id);
}

static void job_start(rc_demo *d)
{
    char msg[64];
    d->job.active = 1;
    d->job.id = ++d->next_id;
    d->job.user = rnd_below(d, NUSERS);
    d->job.kind = rnd_below(d, N(job_kinds));
    d->job.progress = 0;
    d->job.prog = -1;
    if (rnd_below(d, 3)) {
        int p = rnd_below(d, NPROGS);
        if (member_of(d, p, d->job.user))
            d->job.prog = p;
    }
    snprintf(msg, sizeof msg, "%s queued", job_kinds[d->job.kind]);
    job_record(d, "STARTED", msg);
}

static void job_step(rc_demo *d)
{
    char msg[64];
    if (d->job.progress >= 60 && rnd_below(d, 8) == 0) {
        job_record(d, "FAILED", "storage timeout, please retry");
        d->job.active = 0;
        return;
    }
    d->job.progress += 15 + rnd_below(d, 21);
    if (d->job.progress >= 100) {
        d->job.progress = 100;
        snprintf(msg, sizeof msg, "%s ready", job_kinds[d->job.kind]);
        job_record(d, "COMPLETED", msg);
        d->job.active = 0;
        return;
    }
    snprintf(msg, sizeof msg, "%s running", job_kinds[d->job.kind]);
    job_record(d, "PROGRESS", msg);
}

/* A request of program p with the given need, or NULL. */
static struct req *pick_req(rc_demo *d, int p, int need_comment,
                            int need_attachment)
{
    struct prog *pg = &d->progs[p];
    struct req *cand[MAXREQ];
    int n = 0;
    for (int i = 0; i < pg->nreqs; i++) {
        struct req *r = &pg->reqs[i];
        if ((!need_comment || r->ncomments) &&
            (!need_attachment || r->nattachments))
            cand[n++] = r;
    }
    return n ? cand[rnd_below(d, n)] : NULL;
}

/* One record of whatever happens next. */
static void step(rc_demo *d)
{
    if (d->job.active && rnd_below(d, 5) < 2) {
        job_step(d);
        return;
    }
    int p = rnd_below(d, NPROGS);
    int roll = rnd_below(d, 100);
    struct req *r = pick_req(d, p, 0, 0), *rc = NULL, *ra = NULL;

    if (roll < 3) { /* bob comes to p1 for a while, then leaves */
        membership(d, 0, 1, !d->bob_in_p1);
        d->bob_in_p1 = !d->bob_in_p1;
        return;
    }
    if (roll < 10 && !d->job.active) {
        job_start(d);
        return;
    }
    if (roll < 22 || !r) {
        request_created(d, p);
    } else if (roll < 32) {
        request_updated(d, p, r);
    } else if (roll < 44) {
        request_status(d, p, r);
    } else if (roll < 55) {
        request_assigned(d, p, r);
    } else if (roll < 74) {
        comment_added(d, p, r);
    } else if (roll < 80 && (rc = pick_req(d, p, 1, 0))) {
        comment_deleted(d, p, rc);
    } else if (roll < 93) {
        attachment_uploaded(d, p, r);
    } else if ((ra = pick_req(d, p, 0, 1))) {
        attachment_deleted(d, p, ra);
    } else {
        request_status(d, p, r);
    }
}

/* ---- the thread ----------------------------------------------------------- */

static void add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Waits until deadline or stop; returns 1 when asked to stop. */
static int wait_until(rc_demo *d, const struct timespec *deadline)
{
    int stop;
    pthread_mutex_lock(&d->mu);
    while (!d->stop &&
           pthread_cond_timedwait(&d->cv, &d->mu, deadline) == 0)
        ;
    stop = d->stop;
    pthread_mutex_unlock(&d->mu);
    return stop;
}

static void *run(void *arg)
{
    rc_demo *d = arg;
    struct timespec next;
    unsigned long logged = 0;

    /* The starting memberships, at once, so that every later record has
     * its audience in place. */
    membership(d, 0, 0, 1); /* alice in p1 */
    membership(d, 1, 0, 1); /* alice in p2 */
    membership(d, 1, 1, 1); /* bob in p2 */
    membership(d, 2, 2, 1); /* carol in p3 */
    rd_kafka_poll(d->rk, 0);

    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        add_ms(&next, d->interval_ms);
        if (wait_until(d, &next))
            break;
        step(d);
        rd_kafka_poll(d->rk, 0);
        /* Fell far behind (suspended process)? Do not burst to catch up. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec + 2)
            next = now;
        unsigned long n = atomic_load(&d->produced);
        if (n / 100 != logged / 100) {
            LOG_DEBUG("demo", "%lu records produced, %lu delivered", n,
                      atomic_load(&d->delivered));
            logged = n;
        }
    }
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------- */

static int find_records(rc_demo *d, const rc_catalog *cat, char *errstr,
                        size_t errlen)
{
    for (int k = 0; k < NREC; k++) {
        size_t want = strlen(rec_names[k]);
        for (size_t i = 0; i < rc_catalog_count(cat); i++) {
            const char *full = rc_catalog_record(cat, i);
            size_t len = strlen(full);
            if (len >= want && strcmp(full + len - want, rec_names[k]) == 0 &&
                (len == want || full[len - want - 1] == '.')) {
                d->records[k] = full;
                d->topics[k] = rc_catalog_topic(cat, i);
                break;
            }
        }
        if (!d->records[k]) {
            rc_errf(errstr, errlen, "demo: the catalog has no %s",
                     rec_names[k]);
            return -1;
        }
    }
    return 0;
}

rc_demo *rc_demo_new(const char *brokers, const rc_catalog *cat,
                     const char *schemas_dir, int interval_ms, char *errstr,
                     size_t errlen)
{
    char kerr[512];
    rd_kafka_conf_t *conf = NULL;
    pthread_condattr_t ca;
    int sync_ready = 0;
    rc_demo *d = calloc(1, sizeof *d);
    if (!d) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    d->interval_ms = interval_ms > 0 ? interval_ms : 1;
    atomic_init(&d->produced, 0);
    atomic_init(&d->delivered, 0);
    atomic_init(&d->failed, 0);
    if (getrandom(&d->rng, sizeof d->rng, GRND_NONBLOCK) !=
            (ssize_t)sizeof d->rng ||
        d->rng == 0)
        d->rng = (uint64_t)rc_clock_wall_ms() * 0x9E3779B97F4A7C15ull | 1;

    if (find_records(d, cat, errstr, errlen) < 0)
        goto fail;
    if (!(d->codec = rc_codec_new(schemas_dir, errstr, errlen)))
        goto fail;

    /* Only the brokers: the kafka.* properties are not applied to the
     * demo producer. */
    rc_kafka_opts ko = {.brokers = brokers, .client_id = "roomcast-demo",
                        .native_log = 1};
    if (!(conf = rc_kafka_conf_new(&ko, RC_KAFKA_BULK, kerr, sizeof kerr))) {
        rc_errf(errstr, errlen, "demo: %s", kerr);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    if (!(d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr))) {
        rc_errf(errstr, errlen, "demo: %s", kerr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    if (pthread_condattr_init(&ca) != 0)
        goto oom;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&d->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto oom;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        pthread_cond_destroy(&d->cv);
        goto oom;
    }
    sync_ready = 1;

    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        rc_errf(errstr, errlen, "demo: cannot start thread");
        goto fail;
    }
    d->thread_started = 1;
    LOG_INFO("demo", "demo producer started: brokers %s, one record every %d ms",
             brokers, d->interval_ms);
    return d;

oom:
    rc_errf(errstr, errlen, "out of memory");
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (d->rk)
        rd_kafka_destroy(d->rk);
    if (d->codec)
        rc_codec_destroy(d->codec);
    if (sync_ready) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    free(d);
    return NULL;
}

void rc_demo_destroy(rc_demo *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->thread_started)
        pthread_join(d->thread, NULL);

    /* Deliver what is queued, but do not hold shutdown hostage to an
     * unreachable broker. */
    if (rd_kafka_flush(d->rk, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(d->rk, 0);
    }
    LOG_INFO("demo", "demo producer stopped: %lu produced, %lu delivered, "
             "%lu failed", atomic_load(&d->produced),
             atomic_load(&d->delivered), atomic_load(&d->failed));
    rd_kafka_destroy(d->rk);
    rc_codec_destroy(d->codec);
    rc_buf_free(&d->json);
    rc_buf_free(&d->out);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}
