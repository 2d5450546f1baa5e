/* libfcgi's classic hello world: one counter per process. */
#include <fcgi_stdio.h>

int main(void)
{
    int count = 0;
    while (FCGI_Accept() >= 0) {
        printf("Content-type: text/html\r\n\r\nHello world!<br>\r\nRequest number %d.", count++);
    }
    return 0;
}
