/* Reads the whole request body. With ?count it answers only the number of
 * bytes read (an upload); otherwise it echoes the body back. */
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static char buf[65536];
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;

    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        const char *qs = FCGX_GetParam("QUERY_STRING", envp);
        int echo = !(qs && strcmp(qs, "count") == 0);
        long total = 0;
        int n;
        FCGX_PutS("Content-Type: application/octet-stream\r\n\r\n", out);
        while ((n = FCGX_GetStr(buf, sizeof buf, in)) > 0) {
            total += n;
            if (echo)
                FCGX_PutStr(buf, n, out);
        }
        if (!echo)
            FCGX_FPrintF(out, "%ld\n", total);
    }
    return 0;
}
