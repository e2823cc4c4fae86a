/*
 * listen.c - the listen address and the bind probe (listen.h).
 *
 * Implementation notes. lws binds its listener with SO_REUSEADDR and, with
 * IPv6 enabled, on an AF_INET6 socket that also takes IPv4; the probe does
 * the same, so that what it refuses is what lws would refuse (a port in
 * TIME_WAIT is not "in use" for either) and what it accepts lws gets. lws
 * itself only logs "ERROR on binding fd N to port P (-1 98)"; the probe is
 * how the process says it in words first.
 */
#include "gateway/server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/errstr.h"

#define FORMS "HOST:PORT, e.g. 0.0.0.0:8080, 127.0.0.1:8080, [::]:8080 or :8080"

int gw_listen_parse(const char *listen, gw_listen_addr *out, char *errstr, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon)
        return rc_errf(errstr, errlen, "'%.200s' is not %s", listen ? listen : "", FORMS);
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || p > 65535)
        return rc_errf(errstr, errlen, "'%.200s': the port must be a number from 0 to 65535 (%s)",
                       listen, FORMS);
    out->port = (int)p;
    size_t hl = (size_t)(colon - listen);
    char host[256];
    if (hl >= sizeof host)
        return rc_errf(errstr, errlen, "'%.200s...': the host is too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else if (strpbrk(host, ":[]") && strcmp(host, "::") != 0) {
        return rc_errf(errstr, errlen,
                       "'%.200s': an IPv6 address goes in brackets before the port, as "
                       "[ADDRESS]:PORT (e.g. [::1]:8080)",
                       listen);
    }
    if (strlen(host) > 63)
        return rc_errf(errstr, errlen, "'%.200s': the host is too long", listen);
    snprintf(out->host, sizeof out->host, strchr(host, ':') ? "[%s]" : "%s",
             host[0] && strcmp(host, "*") ? host : "0.0.0.0");

    unsigned char addr[16];
    if (!host[0] || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        out->ipv4_only = 1;
    } else if (strcmp(host, "::") == 0) {
        /* every address, IPv6 and (dual-stack) IPv4 */
    } else if (inet_pton(AF_INET, host, addr) == 1) {
        out->ipv4_only = 1;
        snprintf(out->iface, sizeof out->iface, "%.63s", host); /* an IP literal: short */
    } else if (inet_pton(AF_INET6, host, addr) == 1) {
        snprintf(out->iface, sizeof out->iface, "%.63s", host); /* an IP literal: short */
    } else {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
        int g = getaddrinfo(host, NULL, &hints, &res);
        if (g != 0 || !res)
            return rc_errf(errstr, errlen,
                           "'%.200s': cannot resolve host '%s' (%s): use an IP address, or "
                           "0.0.0.0 for every address",
                           listen, host, g ? gai_strerror(g) : "no address");
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, out->iface,
                  sizeof out->iface);
        freeaddrinfo(res);
        out->ipv4_only = 1;
    }
    return 0;
}

int gw_listen_probe(const gw_listen_addr *a, char *errstr, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int family = a->ipv4_only ? AF_INET : AF_INET6;
    memset(&ss, 0, sizeof ss);
    if (a->port == 0)
        return 0;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)a->port);
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        if (a->iface[0] && inet_pton(AF_INET, a->iface, &sin->sin_addr) != 1) {
            rc_errf(errstr, errlen, "bad IPv4 address %s", a->iface);
            return EINVAL;
        }
        sl = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)a->port);
        sin6->sin6_addr = in6addr_any;
        if (a->iface[0] && inet_pton(AF_INET6, a->iface, &sin6->sin6_addr) != 1) {
            rc_errf(errstr, errlen, "bad IPv6 address %s", a->iface);
            return EINVAL;
        }
        sl = sizeof *sin6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        rc_errf(errstr, errlen, "cannot create a socket: %s", strerror(e));
        return e;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    int e = bind(fd, (struct sockaddr *)&ss, sl) == 0 ? 0 : errno;
    close(fd);
    switch (e) {
    case 0:
        return 0;
    case EADDRINUSE:
        rc_errf(errstr, errlen,
                "address already in use: another process listens on port %d (find it with "
                "`ss -ltnp 'sport = :%d'`); stop it or choose another port",
                a->port, a->port);
        break;
    case EACCES:
        rc_errf(errstr, errlen,
                "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; "
                "choose a port from 1024 up, or grant the capability");
        break;
    case EADDRNOTAVAIL:
        rc_errf(errstr, errlen,
                "cannot assign requested address: no network interface of this host has "
                "the address %s; use one of its addresses, or 0.0.0.0 for every address",
                a->iface[0] ? a->iface : a->host);
        break;
    default:
        rc_errf(errstr, errlen, "cannot bind: %s", strerror(e));
        break;
    }
    return e;
}
