/* An authorizer-role app for the three roles (FCGI_APACHE_ROLE):
 *   AUTHENTICATOR: alice / wonderland passes, with Variable-AUTH_LEVEL: gold
 *   AUTHORIZER:    user alice passes
 *   ACCESS_CHECKER: passes unless the query string contains "deny"
 * A refusal answers "Status: 403". Every decision goes to stderr too. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "";
}

int main(void)
{
    while (FCGI_Accept() >= 0) {
        const char *role = env("FCGI_APACHE_ROLE");
        int pass = 0;
        if (strcmp(role, "AUTHENTICATOR") == 0)
            pass = strcmp(env("REMOTE_USER"), "alice") == 0 && strcmp(env("REMOTE_PASSWD"), "wonderland") == 0;
        else if (strcmp(role, "AUTHORIZER") == 0)
            pass = strcmp(env("REMOTE_USER"), "alice") == 0;
        else if (strcmp(role, "ACCESS_CHECKER") == 0)
            pass = strstr(env("QUERY_STRING"), "deny") == NULL;
        fprintf(stderr, "auth role=%s user=%s pass=%d content_length=%s\n", role, env("REMOTE_USER"), pass,
                getenv("CONTENT_LENGTH") ? "set" : "unset");
        if (pass)
            printf("Status: 200\r\nVariable-AUTH_LEVEL: gold\r\nContent-Type: text/plain\r\n\r\nok");
        else
            printf("Status: 403\r\nContent-Type: text/plain\r\n\r\nno");
    }
    return 0;
}
