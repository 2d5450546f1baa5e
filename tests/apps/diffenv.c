/* The app of the differential suite (tests/differential.rs): it answers
 * the same request the same way every time, and prints what it saw in an
 * order that does not depend on the web server (the environment sorted),
 * so two servers' answers compare line by line.
 *
 * Words of QUERY_STRING (split on '&') choose the answer:
 *   status=N      send "Status: N" (a '+' in N becomes a space)
 *   location=URL  send "Location: URL"
 *   lastmod       send a fixed Last-Modified and ETag (conditional requests)
 *   cookies       send two Set-Cookie headers
 *   cl            send "Content-Length: 5" (shorter than the answer)
 *   nocontenttype send no Content-Type
 *   lf            end header lines with LF only
 *   badheader     send a header line without a colon
 *   longheader    send a 10000-byte header line
 *   noheaderend   send a header and end the request without a blank line
 *   stderr        write a line to FastCGI STDERR
 *   bigerr        write 64 KiB to STDERR
 *   exit          exit at once, answering nothing
 *   big=N         answer N bytes of body after the report
 *   quiet         answer "quiet" instead of the report
 *   initial       add the process's own environment and argv to the report
 * The report: "argv[i]=" lines and "initial:" lines (with `initial`), the
 * request's environment sorted, then the body's length, an FNV-1a hash, and
 * the body itself when it is short. */
#include <fcgi_stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static char **initial_env;
static int initial_count;
static int argc_saved;
static char **argv_saved;

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is WORD one of QS's '&'-separated words (or a "WORD=..." one)? Its value in VAL. */
static int word(const char *qs, const char *name, char *val, size_t len)
{
    size_t n = strlen(name);
    const char *p = qs;
    while (p && *p) {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0')) {
            if (val) {
                const char *v = p[n] == '=' ? p + n + 1 : p + n;
                size_t i = 0;
                while (v[i] && v[i] != '&' && i + 1 < len) {
                    val[i] = v[i] == '+' ? ' ' : v[i];
                    i++;
                }
                val[i] = '\0';
            }
            return 1;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return 0;
}

static char **sorted(char **env, int *count)
{
    int n = 0;
    while (env[n])
        n++;
    char **copy = malloc(sizeof(char *) * (n + 1));
    for (int i = 0; i < n; i++)
        copy[i] = strdup(env[i]);
    copy[n] = NULL;
    qsort(copy, n, sizeof(char *), cmp);
    *count = n;
    return copy;
}

int main(int argc, char **argv)
{
    initial_env = sorted(environ, &initial_count);
    argc_saved = argc;
    argv_saved = argv;
    while (FCGI_Accept() >= 0) {
        const char *qs = getenv("QUERY_STRING");
        const char *eol;
        char val[256];
        if (!qs)
            qs = "";
        eol = word(qs, "lf", NULL, 0) ? "\n" : "\r\n";

        if (word(qs, "exit", NULL, 0))
            exit(3);
        if (word(qs, "stderr", NULL, 0))
            fprintf(stderr, "diffenv: a line on stderr\n");
        if (word(qs, "bigerr", NULL, 0)) {
            for (int i = 0; i < 1024; i++)
                fprintf(stderr, "%063d\n", i);
        }
        if (word(qs, "status", val, sizeof val))
            printf("Status: %s%s", val, eol);
        if (word(qs, "location", val, sizeof val))
            printf("Location: %s%s", val, eol);
        if (word(qs, "lastmod", NULL, 0))
            printf("Last-Modified: Mon, 01 Jan 2001 00:00:00 GMT%sETag: \"v1\"%s", eol, eol);
        if (word(qs, "cookies", NULL, 0))
            printf("Set-Cookie: a=1; Path=/%sSet-Cookie: b=2; Path=/%s", eol, eol);
        if (word(qs, "cl", NULL, 0))
            printf("Content-Length: 5%s", eol);
        if (word(qs, "badheader", NULL, 0))
            printf("this line has no colon%s", eol);
        if (word(qs, "longheader", NULL, 0)) {
            printf("X-Long: ");
            for (int i = 0; i < 10000; i++)
                putchar('x');
            printf("%s", eol);
        }
        if (word(qs, "noheaderend", NULL, 0)) {
            printf("Content-Type: text/plain%s", eol);
            continue;
        }
        if (!word(qs, "nocontenttype", NULL, 0))
            printf("Content-Type: text/plain%s", eol);
        printf("X-App: diffenv%s", eol);
        printf("%s", eol);

        if (word(qs, "quiet", NULL, 0)) {
            printf("quiet\n");
            while (getchar() != EOF)
                ;
            continue;
        }
        if (word(qs, "initial", NULL, 0)) {
            for (int i = 0; i < argc_saved; i++)
                printf("argv[%d]=%s\n", i, argv_saved[i]);
            for (int i = 0; i < initial_count; i++)
                printf("initial:%s\n", initial_env[i]);
        }
        int n;
        char **env = sorted(environ, &n);
        for (int i = 0; i < n; i++) {
            printf("%s\n", env[i]);
            free(env[i]);
        }
        free(env);

        uint64_t hash = 1469598103934665603ULL;
        size_t len = 0, cap = 4096;
        char *body = malloc(cap);
        int c;
        while ((c = getchar()) != EOF) {
            if (len == cap)
                body = realloc(body, cap *= 2);
            body[len++] = (char)c;
            hash = (hash ^ (unsigned char)c) * 1099511628211ULL;
        }
        printf("body_len=%lu\nbody_fnv=%lx\n", (unsigned long)len, (unsigned long)hash);
        if (len <= 512) {
            printf("body=");
            fwrite(body, 1, len, stdout);
            printf("\n");
        }
        free(body);
        if (word(qs, "big", val, sizeof val)) {
            long big = atol(val);
            for (long i = 0; i < big; i++)
                putchar('a' + i % 26);
        }
    }
    return 0;
}
