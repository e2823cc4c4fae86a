/*
 * kv.h - a key and its value, both strings: how Kafka client properties
 * travel from the configuration (kafka.* keys, -X) to the client builder.
 */
#ifndef RC_KV_H
#define RC_KV_H

/* Who owns the strings is said where an array of them is kept. */
typedef struct rc_kv {
    char *key;
    char *value;
} rc_kv;

#endif
