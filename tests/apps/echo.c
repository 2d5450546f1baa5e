/* A test app that shows what it received and can be told how to answer
 * through the query string:
 *   status=N        send "Status: N"
 *   location=URL    send "Location: URL"
 *   stderr=TEXT     write TEXT as a line to FastCGI STDERR
 *   sleep_ms=N      wait N ms before answering
 *   pid             answer only the process id
 *   exit            exit (crash) without answering
 * Otherwise it answers "pid=…", "count=…", selected variables and the body. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *param(const char *qs, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    const char *p = qs;
    while (p && *p) {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0')) {
            const char *v = p[n] == '=' ? p + n + 1 : p + n;
            size_t i = 0;
            while (v[i] && v[i] != '&' && i + 1 < len) {
                buf[i] = v[i];
                i++;
            }
            buf[i] = '\0';
            return buf;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return NULL;
}

int main(void)
{
    static const char *vars[] = {"REQUEST_METHOD", "QUERY_STRING", "CONTENT_LENGTH", "SCRIPT_NAME",
                                 "SCRIPT_FILENAME", "PATH_INFO", "SERVER_NAME", "HTTP_HOST",
                                 "HTTP_PROXY", "HTTP_X_TEST", "X-Test", "TEST_INITIAL",
                                 "REMOTE_USER", "AUTH_LEVEL", NULL};
    int count = 0;
    while (FCGI_Accept() >= 0) {
        char buf[256];
        const char *qs = getenv("QUERY_STRING");
        if (param(qs, "sleep_ms", buf, sizeof buf))
            usleep(atoi(buf) * 1000);
        if (param(qs, "exit", buf, sizeof buf))
            exit(3);
        if (param(qs, "stderr", buf, sizeof buf))
            fprintf(stderr, "%s\n", buf);
        if (param(qs, "status", buf, sizeof buf))
            printf("Status: %s\r\n", buf);
        if (param(qs, "location", buf, sizeof buf))
            printf("Location: %s\r\n", buf);
        printf("Content-Type: text/plain\r\n\r\n");
        if (param(qs, "pid", buf, sizeof buf)) {
            printf("%d", (int)getpid());
            count++;
            continue;
        }
        printf("pid=%d\ncount=%d\n", (int)getpid(), count++);
        for (int i = 0; vars[i]; i++) {
            const char *v = getenv(vars[i]);
            if (v)
                printf("%s=%s\n", vars[i], v);
        }
        printf("body=");
        int c;
        while ((c = getchar()) != EOF)
            putchar(c);
    }
    return 0;
}
