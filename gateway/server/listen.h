/*
 * listen.h - the server's listen address: "HOST:PORT" parsed into what the
 * socket layer wants, and a probe that binds it the way the server will,
 * so that a port in use is a clear error before anything starts.
 *
 * HOST is empty, "*" or "0.0.0.0" (every IPv4 address), "::" or "[::]"
 * (every address, IPv6 and dual-stack IPv4), an IPv4 literal, an IPv6
 * literal in brackets, or a name (resolved once, to IPv4). PORT is
 * 0..65535 (0: a free port). Any thread; blocking (name resolution, a
 * bind): at start-up only.
 */
#ifndef GW_LISTEN_H
#define GW_LISTEN_H

#include <stddef.h>

typedef struct gw_listen_addr {
    char host[72];   /* for logs: the host as given, IPv6 in brackets,
                        "0.0.0.0" for every address */
    char iface[64];  /* an IP literal to bind to, "" for every address */
    int port;
    int ipv4_only;   /* no IPv6 socket (an IPv4 host, or every IPv4 address) */
} gw_listen_addr;

/*
 * Parses listen into *out. 0, or -1 with errstr naming the value and the
 * form expected, as "'foo' is not HOST:PORT (e.g. 0.0.0.0:8080, ...)".
 * The messages do not name the option: the caller knows its name.
 */
int gw_listen_parse(const char *listen, gw_listen_addr *out, char *errstr, size_t errlen);

/*
 * Binds a socket to *a as the server's listener would (SO_REUSEADDR, IPv6
 * dual-stack unless ipv4_only) and closes it. 0 when the bind succeeds (or
 * the port is 0), else the errno of the failure (EADDRINUSE, EACCES,
 * EADDRNOTAVAIL...) with errstr set to the reason in words and what to do,
 * without the option's name.
 */
int gw_listen_probe(const gw_listen_addr *a, char *errstr, size_t errlen);

#endif
