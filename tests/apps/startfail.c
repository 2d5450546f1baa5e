/* An app that cannot start until the file named by READY_FILE exists (a
 * missing config file, a database that is down): it says so on stderr and
 * exits 1 at once. Once the file is there it answers "started". */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    const char *ready = getenv("READY_FILE");
    if (!ready || access(ready, F_OK) != 0) {
        /* The real stderr (the error log): fcgi_stdio's is not set up yet. */
        static const char msg[] = "startfail: the ready file is missing, cannot start\n";
        write(2, msg, strlen(msg));
        return 1;
    }
    while (FCGI_Accept() >= 0)
        printf("Content-Type: text/plain\r\n\r\nstarted\n");
    return 0;
}
