/* Answers a large body, for clients that hang up mid-download:
 *   ?kib=N     N KiB of 'x' (default 256), then the request ends
 *   ?endless   keeps sending until the connection is cut */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    static char block[1024];
    memset(block, 'x', sizeof block);
    while (FCGI_Accept() >= 0) {
        const char *qs = getenv("QUERY_STRING");
        long kib = 256;
        int endless = qs && strstr(qs, "endless") != NULL;
        if (qs && strncmp(qs, "kib=", 4) == 0)
            kib = atol(qs + 4);
        printf("Content-Type: application/octet-stream\r\n\r\n");
        for (long i = 0; endless || i < kib; i++) {
            if (fwrite(block, 1, sizeof block, stdout) != sizeof block)
                break;
        }
    }
    return 0;
}
