/* A FastCGI app written without libfcgi that answers each request as soon
 * as its PARAMS end, without reading the body (the spec lets an app answer
 * before STDIN ends, as one refusing an upload does), and keeps the
 * connection when asked (FCGI_KEEP_CONN). Records of a request it already
 * answered are read and skipped. It answers
 *   early n=<requests answered by this process, from 1>
 */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDOUT = 6 };

static int read_exactly(int fd, unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

static void write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void record(int fd, int type, unsigned id, const void *content, size_t len)
{
    unsigned char h[8] = {1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                          (unsigned char)(len >> 8), (unsigned char)len, 0, 0};
    write_all(fd, h, sizeof h);
    write_all(fd, content, len);
}

int main(void)
{
    static unsigned char content[65535 + 255];
    unsigned long answered = 0;
    for (;;) {
        int fd = accept(0, NULL, NULL);
        if (fd < 0)
            continue;
        unsigned active = 0;
        int keep = 0;
        for (;;) {
            unsigned char h[8];
            if (read_exactly(fd, h, sizeof h) != 0)
                break;
            unsigned id = ((unsigned)h[2] << 8) | h[3];
            size_t len = ((size_t)h[4] << 8) | h[5];
            if (read_exactly(fd, content, len + h[6]) != 0)
                break;
            if (h[1] == BEGIN_REQUEST) {
                active = id;
                keep = content[2] & 1;
            } else if (h[1] == PARAMS && len == 0 && id == active) {
                char body[100];
                int n = snprintf(body, sizeof body, "Content-Type: text/plain\r\n\r\nearly n=%lu",
                                 ++answered);
                record(fd, STDOUT, id, body, (size_t)n);
                record(fd, STDOUT, id, "", 0);
                unsigned char end[8] = {0};
                record(fd, END_REQUEST, id, end, sizeof end);
                active = 0;
                if (!keep)
                    break;
            }
        }
        close(fd);
    }
}
