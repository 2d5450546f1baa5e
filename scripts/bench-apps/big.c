/* Answers a body of ?kib=N KiB (default 256) of 'x', written in 16 KiB
 * pieces and without Content-Length, as most apps (PHP among them) do. */
#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    static char chunk[16384];
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;

    memset(chunk, 'x', sizeof chunk);
    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        const char *qs = FCGX_GetParam("QUERY_STRING", envp);
        long left = 256 * 1024L;
        if (qs && strncmp(qs, "kib=", 4) == 0)
            left = atol(qs + 4) * 1024L;
        FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", out);
        while (left > 0) {
            int n = left < (long)sizeof chunk ? (int)left : (int)sizeof chunk;
            FCGX_PutStr(chunk, n, out);
            left -= n;
        }
    }
    return 0;
}
