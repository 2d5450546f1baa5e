/* Says who runs it: for the suexec tests. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    while (FCGI_Accept() >= 0) {
        const char *v = getenv("FCGID_TEST_INITENV");
        printf("Content-type: text/plain\r\n\r\nuid=%d\ngid=%d\npid=%d\ninitenv=%s\n",
               (int)getuid(), (int)getgid(), (int)getpid(), v ? v : "(unset)");
    }
    return 0;
}
