/* Prints every environment variable of the request, in the order the web
 * server (or bridge) sent them, then the request body and its length, so
 * that two bridges can be compared byte for byte. QUERY_STRING may contain:
 *   stderr      also write a line to FastCGI STDERR
 *   exit=N      end the request with app status N */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(void)
{
    while (FCGI_Accept() >= 0) {
        const char *qs = getenv("QUERY_STRING");
        const char *exit_status;
        long len = 0;
        int c;
        char **e;

        if (!qs)
            qs = "";
        printf("Content-Type: text/plain\r\n\r\n");
        for (e = environ; *e; e++)
            printf("%s\n", *e);
        if (strstr(qs, "stderr"))
            fprintf(stderr, "a line on stderr\n");
        printf("body=");
        while ((c = getchar()) != EOF) {
            putchar(c);
            len++;
        }
        printf("\nbody_len=%ld\n", len);
        /* Set every time: libfcgi keeps the last status for later requests. */
        exit_status = strstr(qs, "exit=");
        FCGI_SetExitStatus(exit_status ? atoi(exit_status + 5) : 0);
    }
    return 0;
}
