/* A test app that tells which connection each request came over:
 *   pid=<process id> conn=<inode of the accepted socket> n=<requests so far>
 * libfcgi keeps reading an accepted connection while the web server asks
 * for that (FCGI_KEEP_CONN), so the same inode on two requests means the
 * second one came over the connection the first one kept open.
 * With ?sleep_ms=N in the query it waits N ms before answering. */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    FCGX_Request req;
    unsigned long n = 0;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        struct stat st;
        unsigned long long conn = 0;
        if (fstat(req.ipcFd, &st) == 0)
            conn = (unsigned long long)st.st_ino;
        const char *qs = FCGX_GetParam("QUERY_STRING", req.envp);
        const char *ms = qs ? strstr(qs, "sleep_ms=") : NULL;
        if (ms)
            usleep((useconds_t)atoi(ms + strlen("sleep_ms=")) * 1000);
        n++;
        FCGX_FPrintF(req.out, "Content-Type: text/plain\r\n\r\npid=%d conn=%llu n=%lu", (int)getpid(),
                     conn, n);
        FCGX_Finish_r(&req);
    }
    return 0;
}
