/* Sends its answer in two parts with a pause between: the first part is
 * flushed (as server-sent events or progress output do), then the app waits
 * ?pause_ms (default 2000) before the second part. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    while (FCGI_Accept() >= 0) {
        const char *qs = getenv("QUERY_STRING");
        int pause_ms = 2000;
        if (qs && strncmp(qs, "pause_ms=", 9) == 0)
            pause_ms = atoi(qs + 9);
        printf("Content-Type: text/event-stream\r\n\r\n");
        printf("data: first\n\n");
        FCGI_fflush(stdout);
        usleep(pause_ms * 1000);
        printf("data: second\n\n");
    }
    return 0;
}
