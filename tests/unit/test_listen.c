/*
 * test_listen.c - the listen address: the forms accepted and refused, with
 * messages that say the expected form, and the bind probe's answers for a
 * port in use, a privileged port and an address this host does not have.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "gateway/server/listen.h"

static void test_parse(void)
{
    gw_listen_addr a;
    char err[400];
    CHECK_INT(gw_listen_parse("0.0.0.0:8080", &a, err, sizeof err), 0);
    CHECK_INT(a.port, 8080);
    CHECK_INT(a.ipv4_only, 1);
    CHECK_STR(a.iface, "");
    CHECK_STR(a.host, "0.0.0.0");
    CHECK_INT(gw_listen_parse(":0", &a, err, sizeof err), 0);
    CHECK_INT(a.port, 0);
    CHECK_STR(a.host, "0.0.0.0");
    CHECK_INT(gw_listen_parse("127.0.0.1:9000", &a, err, sizeof err), 0);
    CHECK_STR(a.iface, "127.0.0.1");
    CHECK_INT(gw_listen_parse("[::1]:9000", &a, err, sizeof err), 0);
    CHECK_STR(a.iface, "::1");
    CHECK_STR(a.host, "[::1]");
    CHECK_INT(a.ipv4_only, 0);
    CHECK_INT(gw_listen_parse("[::]:80", &a, err, sizeof err), 0);
    CHECK_STR(a.iface, "");
    CHECK_INT(a.ipv4_only, 0);
    CHECK_INT(gw_listen_parse("localhost:1", &a, err, sizeof err), 0);
    CHECK_STR(a.iface, "127.0.0.1");

    CHECK_INT(gw_listen_parse("foo", &a, err, sizeof err), -1);
    CHECK(strstr(err, "'foo' is not HOST:PORT") != NULL);
    CHECK_INT(gw_listen_parse("foo:bar", &a, err, sizeof err), -1);
    CHECK(strstr(err, "the port must be a number from 0 to 65535") != NULL);
    CHECK_INT(gw_listen_parse("1.2.3.4:65536", &a, err, sizeof err), -1);
    CHECK_INT(gw_listen_parse("1.2.3.4:-1", &a, err, sizeof err), -1);
    CHECK_INT(gw_listen_parse("1.2.3.4:", &a, err, sizeof err), -1);
    CHECK_INT(gw_listen_parse("::1:80", &a, err, sizeof err), -1);
    CHECK(strstr(err, "[ADDRESS]:PORT") != NULL);
    CHECK_INT(gw_listen_parse("[::1:80", &a, err, sizeof err), -1);
    CHECK_INT(gw_listen_parse("no-such-host.invalid:80", &a, err, sizeof err), -1);
    CHECK(strstr(err, "cannot resolve host 'no-such-host.invalid'") != NULL);
    CHECK_INT(gw_listen_parse(NULL, &a, err, sizeof err), -1);
}

static void test_probe(void)
{
    gw_listen_addr a;
    char err[400];
    /* a port held by a listener of ours */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 1) == 0 &&
          getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    CHECK_INT(gw_listen_parse(addr, &a, err, sizeof err), 0);
    CHECK_INT(gw_listen_probe(&a, err, sizeof err), EADDRINUSE);
    CHECK(strstr(err, "address already in use") != NULL);
    /* every address includes the loopback one */
    snprintf(addr, sizeof addr, "0.0.0.0:%d", ntohs(sin.sin_port));
    CHECK_INT(gw_listen_parse(addr, &a, err, sizeof err), 0);
    CHECK_INT(gw_listen_probe(&a, err, sizeof err), EADDRINUSE);
    close(fd);
    /* free again once it is closed (SO_REUSEADDR, as lws binds) */
    CHECK_INT(gw_listen_probe(&a, err, sizeof err), 0);
    /* port 0 is always free */
    CHECK_INT(gw_listen_parse("127.0.0.1:0", &a, err, sizeof err), 0);
    CHECK_INT(gw_listen_probe(&a, err, sizeof err), 0);
    /* TEST-NET-1 is nobody's address */
    CHECK_INT(gw_listen_parse("192.0.2.1:18080", &a, err, sizeof err), 0);
    CHECK_INT(gw_listen_probe(&a, err, sizeof err), EADDRNOTAVAIL);
    CHECK(strstr(err, "no network interface of this host has the address 192.0.2.1") != NULL);
}

int main(void)
{
    test_parse();
    test_probe();
    return CHECK_DONE();
}
