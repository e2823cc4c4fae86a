/*
 * produce_main.c - roomcast-produce: JSON lines in, Avro records out to a
 * Kafka topic.
 *
 * Reads one JSON object per line from stdin, fills event_id (a random UUID
 * v4) and occurred_at (now, in ms) when the record has those fields and the
 * line lacks them, encodes the object with the codec in the chosen framing
 * and produces it with a key that keeps one program's (or user's) records in
 * order on one partition. Every delivery report is awaited; the exit status
 * says whether every line was encoded and delivered. With --schema-id the
 * records are Confluent-framed under that id, written with --writer-schema
 * (or the record's current schema), as a producer using a Schema Registry
 * writes them.
 *
 * A topic that roomcast consumes as another record (schemas/catalog.json,
 * with the --topics overrides roomcast is given) is refused before anything
 * is produced, unless --force: roomcast would dead-letter every record.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/errstr.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rand.h"
#include "catalog.h"
#include "codec.h"
#include "codec_json.h"
#include "kafka_conf.h"

#define PROG "roomcast-produce"
#ifndef RC_VERSION
#define RC_VERSION "unknown"
#endif
#ifndef RC_AVRO_VERSION
#define RC_AVRO_VERSION "unknown"
#endif
#define MAX_LINE (1024 * 1024)

struct counts {
    long delivered; /* delivery reports without error */
    long failed;    /* delivery reports with an error */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --brokers LIST --topic TOPIC --record NAME "
            "[options] < records.jsonl\n"
            "\n"
            "Reads one JSON object per line from stdin (blank lines are "
            "skipped), encodes\n"
            "each as an Avro record and produces it to TOPIC.\n"
            "\n"
            "  -b, --brokers LIST      bootstrap servers, host:port[,...]\n"
            "  -t, --topic TOPIC       topic to produce to\n"
            "  -r, --record NAME       record schema, short or full name "
            "(RequestMutation,\n"
            "                          CommentMutation, AttachmentMutation, "
            "ProgramMembership,\n"
            "                          JobEvent, ...)\n"
            "  -f, --framing F         bare | single-object | confluent "
            "(default single-object)\n"
            "  -i, --schema-id N       Confluent framing with schema id N "
            "in the header\n"
            "                          (e.g. an id a Schema Registry gave); "
            "the writer is\n"
            "                          --writer-schema, else the record's "
            "current schema\n"
            "  -w, --writer-schema F   Avro schema file (.avsc) the records "
            "are written with;\n"
            "                          needs --schema-id\n"
            "  -s, --schemas-dir DIR   schemas directory (default %s)\n"
            "  -k, --key-field FIELD   field whose value is the message key "
            "(default:\n"
            "                          program_id when the line has one, "
            "else user_id)\n"
            "      --topics LIST       roomcast's topic overrides, "
            "Record=topic,... (as its\n"
            "                          --topics), for the check below\n"
            "      --force             produce even to a topic roomcast "
            "consumes as another\n"
            "                          record (its consumer sends such "
            "records to the DLQ)\n"
            "  -X prop=value           librdkafka property (repeatable), "
            "e.g. -X acks=1;\n"
            "                          prop=@FILE reads the value from FILE "
            "(for secrets);\n"
            "                          ROOMCAST_KAFKA_<PROP> variables are "
            "read first\n"
            "  -V, --version           versions of this program and its "
            "libraries\n"
            "  -h, --help              this text\n"
            "\n"
            "A line without event_id gets a random UUID; one without "
            "occurred_at gets the\n"
            "current time in milliseconds. Exit status 0 when every line "
            "was encoded and\n"
            "delivered, 1 otherwise, 2 on usage or configuration errors "
            "(nothing produced).\n",
            RC_DEFAULT_SCHEMAS_DIR);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *ud)
{
    struct counts *n = ud;
    (void)rk;
    if (m->err) {
        n->failed++;
        fprintf(stderr, PROG ": line %" PRIdPTR ": delivery failed: %s\n",
                (intptr_t)m->_private, rd_kafka_err2str(m->err));
    } else {
        n->delivered++;
    }
}


/*
 * The message key for one record: the value of key_field when given (it
 * must be there), else program_id, else user_id, else no key. Writes it to
 * key (NUL-terminated); returns its length, 0 for no key, -1 with err.
 */
static int record_key(json_t *obj, const char *key_field, char *key,
                      size_t keylen, char *err, size_t errlen)
{
    const char *fields[2] = {key_field, NULL};
    if (!key_field) {
        fields[0] = "program_id";
        fields[1] = "user_id";
    }
    for (int i = 0; i < 2 && fields[i]; i++) {
        json_t *v = json_object_get(obj, fields[i]);
        int n;
        if (json_is_string(v))
            n = snprintf(key, keylen, "%s", json_string_value(v));
        else if (json_is_integer(v))
            n = snprintf(key, keylen, "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
        else if (!v || json_is_null(v))
            continue;
        else {
            rc_errf(err, errlen, "key field '%s' must be a string or an "
                     "integer", fields[i]);
            return -1;
        }
        if (n < 0 || (size_t)n >= keylen) {
            rc_errf(err, errlen, "key field '%s' is too long", fields[i]);
            return -1;
        }
        return n;
    }
    if (key_field) {
        rc_errf(err, errlen, "key field '%s' is missing or null", key_field);
        return -1;
    }
    return 0;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/*
 * Encodes and produces one line. Returns 0 when the record was handed to
 * librdkafka, -1 (reported on stderr) when the line is bad or the produce
 * call failed.
 */
/* How records are framed: a framing, or Confluent under an explicit id. */
struct framing_opts {
    enum rc_framing framing;
    int64_t schema_id;        /* -1: the framing's own */
    const char *writer;       /* --writer-schema's text, or NULL */
    size_t writer_len;
};

static int produce_line(rd_kafka_t *rk, rc_codec *codec, const char *topic,
                        const char *record, const struct framing_opts *fo,
                        const char *key_field, int fill_event_id,
                        int fill_occurred_at, long lineno, const char *line,
                        size_t len, rc_buf *out)
{
    char err[512] = "";
    char key[1024];
    char *text = NULL;
    json_error_t jerr;
    int rc = -1;
    json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (!obj) {
        rc_errf(err, sizeof err, "invalid JSON at column %d: %s",
                 jerr.column, jerr.text);
        goto done;
    }
    if (!json_is_object(obj)) {
        rc_errf(err, sizeof err, "expected a JSON object");
        goto done;
    }
    if (fill_event_id && !json_object_get(obj, "event_id")) {
        char id[37];
        if (rc_uuid4(id) < 0) {
            rc_errf(err, sizeof err, "cannot generate an event_id: %s",
                     strerror(errno));
            goto done;
        }
        json_object_set_new(obj, "event_id", json_string(id));
    }
    if (fill_occurred_at && !json_object_get(obj, "occurred_at"))
        json_object_set_new(obj, "occurred_at", json_integer(rc_clock_wall_ms()));
    int keyn = record_key(obj, key_field, key, sizeof key, err, sizeof err);
    if (keyn < 0)
        goto done;
    text = json_dumps(obj, JSON_COMPACT);
    if (!text) {
        rc_errf(err, sizeof err, "out of memory");
        goto done;
    }
    /* Not inline in RD_KAFKA_V_KEY: the macro casts its argument without
     * parentheses, so a conditional there would be cast half-way. */
    const char *keyp = keyn ? key : NULL;
    rc_buf_reset(out);
    if ((fo->schema_id >= 0
             ? rc_codec_encode_json_id(codec, record, (int32_t)fo->schema_id, fo->writer,
                                       fo->writer_len, text, strlen(text), out, err,
                                       sizeof err)
             : rc_codec_encode_json(codec, record, text, strlen(text), fo->framing, out,
                                    err, sizeof err)) < 0)
        goto done;
    for (;;) {
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(out->p, out->len),
            RD_KAFKA_V_KEY(keyp, (size_t)keyn),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)lineno), RD_KAFKA_V_END);
        if (kerr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 100); /* wait for room */
            continue;
        }
        if (kerr) {
            rc_errf(err, sizeof err, "cannot produce: %s",
                     rd_kafka_err2str(kerr));
            goto done;
        }
        break;
    }
    rc = 0;
done:
    if (rc < 0)
        fprintf(stderr, PROG ": line %ld: %s\n", lineno, err);
    free(text);
    json_decref(obj);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"record", required_argument, NULL, 'r'},
        {"framing", required_argument, NULL, 'f'},
        {"schemas-dir", required_argument, NULL, 's'},
        {"key-field", required_argument, NULL, 'k'},
        {"schema-id", required_argument, NULL, 'i'},
        {"writer-schema", required_argument, NULL, 'w'},
        {"topics", required_argument, NULL, 'T'},
        {"force", no_argument, NULL, 'F'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers = NULL, *topic = NULL, *record = NULL;
    const char *schemas_dir = RC_DEFAULT_SCHEMAS_DIR, *key_field = NULL;
    const char *topic_overrides = NULL;
    int framing = RC_FRAMING_SINGLE_OBJECT, force = 0, framing_given = 0;
    const char *writer_file = NULL;
    int64_t schema_id = -1;
    char *writer = NULL;
    size_t writer_len = 0;
    char err[512];
    int status = 2;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rc_codec *codec = NULL;
    rc_catalog *cat = NULL;
    rc_config kafka; /* its kafka_props alone */
    char *line = NULL;
    size_t cap = 0;
    rc_buf out = {0};
    struct counts counts = {0, 0};
    /* Defaults first; the ROOMCAST_KAFKA_* and -X properties follow and
     * override them. */
    rc_kv *props = NULL;
    size_t nprops = 0;

    rc_log_set_level("warn"); /* the catalog's info lines are roomcast's */
    memset(&kafka, 0, sizeof kafka);
    if (rc_config_kafka_env(&kafka, err, sizeof err) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    int ch;
    while ((ch = getopt_long(argc, argv, "b:t:r:f:s:k:i:w:X:Vh", opts, NULL)) !=
           -1) {
        switch (ch) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'r': record = optarg; break;
        case 's': schemas_dir = optarg; break;
        case 'k': key_field = optarg; break;
        case 'w': writer_file = optarg; break;
        case 'i': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > INT32_MAX) {
                fprintf(stderr, PROG ": --schema-id wants 0..2147483647, got '%s'\n",
                        optarg);
                goto fail;
            }
            schema_id = v;
            break;
        }
        case 'f':
            framing_given = 1;
            framing = rc_framing_parse(optarg);
            if (framing < 0) {
                fprintf(stderr, PROG ": unknown framing '%s' (bare, "
                        "single-object or confluent)\n", optarg);
                goto fail;
            }
            break;
        case 'T': topic_overrides = optarg; break;
        case 'F': force = 1; break;
        case 'X':
            if (rc_config_kafka_arg(&kafka, optarg, "-X", err, sizeof err) < 0) {
                fprintf(stderr, PROG ": %s\n", err);
                goto fail;
            }
            break;
        case 'V':
            printf(PROG " %s\nlibrdkafka %s\navro-c %s (build)\njansson %s\n", RC_VERSION,
                   rd_kafka_version_str(), RC_AVRO_VERSION, jansson_version_str());
            status = 0;
            goto fail;
        case 'h':
            usage(stdout);
            status = 0;
            goto fail;
        default:
            usage(stderr);
            goto fail;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        goto fail;
    }
    if (!brokers || !topic || !record) {
        fprintf(stderr, PROG ": --brokers, --topic and --record are required "
                "(see --help)\n");
        goto fail;
    }
    if (schema_id >= 0 && framing_given && framing != RC_FRAMING_CONFLUENT) {
        fprintf(stderr, PROG ": --schema-id is Confluent framing: drop --framing or "
                "use --framing confluent\n");
        goto fail;
    }
    if (writer_file && schema_id < 0) {
        fprintf(stderr, PROG ": --writer-schema needs --schema-id (the id the "
                "records carry)\n");
        goto fail;
    }
    if (writer_file && !(writer = rc_file_read(writer_file, "writer schema", 1024 * 1024,
                                               &writer_len, err, sizeof err))) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    codec = rc_codec_new(schemas_dir, err, sizeof err);
    if (!codec) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    avro_schema_t schema = rc_codec_schema(codec, record);
    if (!schema) {
        fprintf(stderr, PROG ": --record %s: no such record in %s (see --help)\n", record,
                schemas_dir);
        goto fail;
    }
    if (!(cat = rc_catalog_new(schemas_dir, topic_overrides, err, sizeof err))) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    if (rc_catalog_check_topic(cat, topic, record, err, sizeof err) < 0) {
        if (!force) {
            fprintf(stderr, PROG ": --topic %s --record %s: %s; --force produces anyway\n",
                    topic, record, err);
            goto fail;
        }
        fprintf(stderr, PROG ": warning (--force): %s\n", err);
    }
    props = calloc(kafka.nkafka_props + 1, sizeof *props);
    if (!props) {
        fprintf(stderr, PROG ": out of memory\n");
        goto fail;
    }
    props[nprops++] = (rc_kv){"message.timeout.ms", "30000"};
    for (size_t i = 0; i < kafka.nkafka_props; i++)
        props[nprops++] = kafka.kafka_props[i];
    int fill_event_id = avro_schema_record_field_get_index(schema,
                                                           "event_id") >= 0;
    int fill_occurred_at =
        avro_schema_record_field_get_index(schema, "occurred_at") >= 0;
    rc_kafka_opts ko = {.brokers = brokers, .client_id = PROG, .props = props,
                        .nprops = nprops, .native_log = 1};
    if (!(conf = rc_kafka_conf_new(&ko, RC_KAFKA_BULK, err, sizeof err))) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, &counts);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, PROG ": %s\n", err);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    struct framing_opts fo = {(enum rc_framing)framing, schema_id, writer, writer_len};
    status = 0;
    long lineno = 0, produced = 0, bad = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if ((size_t)n > MAX_LINE) {
            fprintf(stderr, PROG ": line %ld: longer than %d bytes\n", lineno,
                    MAX_LINE);
            bad++;
            continue;
        }
        if (blank(line))
            continue;
        if (produce_line(rk, codec, topic, record, &fo,
                         key_field, fill_event_id, fill_occurred_at, lineno,
                         line, (size_t)n, &out) < 0)
            bad++;
        else
            produced++;
        rd_kafka_poll(rk, 0); /* serve delivery reports */
    }
    if (ferror(stdin)) {
        fprintf(stderr, PROG ": reading stdin: %s\n", strerror(errno));
        bad++;
    }
    /* Every record ends delivered or failed within message.timeout.ms. */
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    rd_kafka_poll(rk, 0);
    fprintf(stderr, PROG ": produced %ld records to %s", counts.delivered,
            topic);
    if (bad || counts.failed)
        fprintf(stderr, " (%ld bad lines, %ld failed deliveries)", bad,
                counts.failed);
    fprintf(stderr, "\n");
    status = (bad || counts.failed || counts.delivered != produced) ? 1 : 0;
fail:
    if (rk)
        rd_kafka_destroy(rk);
    if (conf)
        rd_kafka_conf_destroy(conf);
    rc_codec_destroy(codec);
    free(writer);
    rc_catalog_destroy(cat);
    rc_buf_free(&out);
    free(line);
    free(props); /* the entries are kafka's */
    rc_config_free(&kafka);
    return status;
}
