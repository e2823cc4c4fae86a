/*
 * test_cors.c - the cross-origin policy: no Origin and same-origin pass
 * without headers, listed origins are echoed with credentials, "*" lets
 * the rest in without credentials, and anything else is refused; the
 * empty default is same-origin only.
 */
#include "check.h"
#include "gateway/server/cors.h"

static void test_default_is_same_origin_only(void)
{
    CHECK_INT(gw_cors_check("", NULL, "rc.example:8080"), GW_CORS_PLAIN);
    CHECK_INT(gw_cors_check(NULL, "", "rc.example:8080"), GW_CORS_PLAIN);
    CHECK_INT(gw_cors_check("", "http://rc.example:8080", "rc.example:8080"), GW_CORS_PLAIN);
    /* the scheme does not matter (a proxy terminating TLS), the host does */
    CHECK_INT(gw_cors_check("", "https://RC.example:8080", "rc.example:8080"), GW_CORS_PLAIN);
    CHECK_INT(gw_cors_check("", "http://rc.example:8081", "rc.example:8080"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check("", "http://evil.example", "rc.example"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check(NULL, "http://evil.example", "rc.example"), GW_CORS_REFUSED);
    /* no Host: nothing is same-origin */
    CHECK_INT(gw_cors_check("", "http://rc.example", NULL), GW_CORS_REFUSED);
    /* not an origin at all */
    CHECK_INT(gw_cors_check("", "null", "null"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check("", "rc.example", "rc.example"), GW_CORS_REFUSED);
}

static void test_allow_list(void)
{
    const char *list = "https://a.example, https://B.example:8443 ,";
    CHECK_INT(gw_cors_check(list, "https://a.example", "rc.example"), GW_CORS_ECHO);
    CHECK_INT(gw_cors_check(list, "https://b.example:8443", "rc.example"), GW_CORS_ECHO);
    CHECK_INT(gw_cors_check(list, "https://a.example:443", "rc.example"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check(list, "http://a.example", "rc.example"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check(list, "https://a.example.evil", "rc.example"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check(list, "https://evil.example", "rc.example"), GW_CORS_REFUSED);
    /* a prefix of an entry is not the entry */
    CHECK_INT(gw_cors_check(list, "https://a.exampl", "rc.example"), GW_CORS_REFUSED);
    CHECK_INT(gw_cors_check(list, "http://rc.example", "rc.example"), GW_CORS_PLAIN);
}

static void test_wildcard_never_has_credentials(void)
{
    CHECK_INT(gw_cors_check("*", "https://anyone.example", "rc.example"), GW_CORS_ANY);
    CHECK_INT(gw_cors_check(" * ", "https://anyone.example", "rc.example"), GW_CORS_ANY);
    CHECK_INT(gw_cors_check("*", NULL, "rc.example"), GW_CORS_PLAIN);
    CHECK_INT(gw_cors_check("*", "http://rc.example", "rc.example"), GW_CORS_PLAIN);
    /* listed origins keep their credentials next to the wildcard */
    CHECK_INT(gw_cors_check("https://a.example,*", "https://a.example", "rc.example"),
              GW_CORS_ECHO);
    CHECK_INT(gw_cors_check("https://a.example,*", "https://b.example", "rc.example"),
              GW_CORS_ANY);
    /* "*" is only the wildcard alone, not inside an origin */
    CHECK_INT(gw_cors_check("https://*.example", "https://a.example", "rc.example"),
              GW_CORS_REFUSED);
}

int main(void)
{
    test_default_is_same_origin_only();
    test_allow_list();
    test_wildcard_never_has_credentials();
    return CHECK_DONE();
}
