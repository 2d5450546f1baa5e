/* An authorizer-role app for the differential suite: it decides as auth.c
 * does (AUTHENTICATOR: alice / wonderland; AUTHORIZER: user alice;
 * ACCESS_CHECKER: unless the query string has "deny"), and on a pass hands
 * its whole environment on as Variable-<ROLE>_<NAME> headers, so that the
 * app behind it (diffenv.c) prints what each role saw. It also sends a
 * header of its own, X-From-Authorizer, on every answer. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "";
}

int main(void)
{
    while (FCGI_Accept() >= 0) {
        const char *role = env("FCGI_APACHE_ROLE");
        const char *prefix = "OTHER";
        int pass = 0;
        if (strcmp(role, "AUTHENTICATOR") == 0) {
            prefix = "AUTHN";
            pass = strcmp(env("REMOTE_USER"), "alice") == 0 && strcmp(env("REMOTE_PASSWD"), "wonderland") == 0;
        } else if (strcmp(role, "AUTHORIZER") == 0) {
            prefix = "AUTHZ";
            pass = strcmp(env("REMOTE_USER"), "alice") == 0;
        } else if (strcmp(role, "ACCESS_CHECKER") == 0) {
            prefix = "ACCESS";
            pass = strstr(env("QUERY_STRING"), "deny") == NULL;
        }
        printf("X-From-Authorizer: %s\r\n", prefix);
        if (!pass) {
            printf("Status: 403\r\nContent-Type: text/plain\r\n\r\nrefused by %s\n", prefix);
            continue;
        }
        printf("Status: 200\r\n");
        for (char **e = environ; *e; e++) {
            const char *eq = strchr(*e, '=');
            if (!eq)
                continue;
            printf("Variable-%s_%.*s: %s\r\n", prefix, (int)(eq - *e), *e, eq + 1);
        }
        printf("Content-Type: text/plain\r\n\r\nallowed by %s\n", prefix);
    }
    return 0;
}
