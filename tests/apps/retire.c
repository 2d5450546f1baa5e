/* Retires itself after 3 requests, as php-cgi does after
 * PHP_FCGI_MAX_REQUESTS: it exits with connections still queued. */
#include <fcgi_stdio.h>

int main(void)
{
    for (int served = 0; served < 3 && FCGI_Accept() >= 0; served++) {
        printf("Content-Type: text/plain\r\n\r\nok");
    }
    return 0;
}
