/* A FastCGI app written without libfcgi that closes the connection after
 * every answer, whatever the web server asked for (FCGI_KEEP_CONN or not),
 * as some hand-written and older apps do. It answers every request with
 *   closed-each <requests answered by this process, from 1>
 * It accepts on fd 0 (the listening socket the web server gave it), reads
 * records (however the reads cut them) until the empty FCGI_STDIN record,
 * answers with one FCGI_STDOUT record, the empty one and FCGI_END_REQUEST,
 * then close()s and accepts again. With SLEEP_MS=N in its environment it
 * waits N ms before each answer, with CLOSE_AFTER_MS=N as long between
 * its answer and the close (the connection looks open meanwhile). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, STDIN = 5, STDOUT = 6 };

/* Reads exactly n bytes (a record may arrive in any number of reads):
 * 0 on success, -1 on end of file or an error. */
static int read_exactly(int fd, unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends a record header for `len` bytes of content and no padding. */
static size_t header(unsigned char *dst, int type, unsigned id, size_t len)
{
    dst[0] = 1;
    dst[1] = (unsigned char)type;
    dst[2] = (unsigned char)(id >> 8);
    dst[3] = (unsigned char)id;
    dst[4] = (unsigned char)(len >> 8);
    dst[5] = (unsigned char)len;
    dst[6] = 0;
    dst[7] = 0;
    return 8;
}

/* How long to wait before each answer (SLEEP_MS). */
static useconds_t delay_us;

static useconds_t env_ms(const char *name)
{
    const char *v = getenv(name);
    return v ? (useconds_t)atoi(v) * 1000 : 0;
}

/* Serves one request on `fd`: 0 when answered, -1 if the connection ended
 * or broke before its empty STDIN record. */
static int serve(int fd, unsigned long count)
{
    unsigned char head[8], content[65535 + 255];
    unsigned id = 0;
    for (;;) {
        if (read_exactly(fd, head, sizeof head) != 0)
            return -1;
        size_t len = ((size_t)head[4] << 8) | head[5];
        if (read_exactly(fd, content, len + head[6]) != 0)
            return -1;
        if (head[1] == BEGIN_REQUEST)
            id = ((unsigned)head[2] << 8) | head[3];
        if (head[1] == STDIN && len == 0)
            break;
    }
    char body[128];
    if (delay_us)
        usleep(delay_us);
    int body_len = snprintf(body, sizeof body,
                            "Content-Type: text/plain\r\n\r\nclosed-each %lu", count);
    unsigned char out[256];
    size_t n = header(out, STDOUT, id, (size_t)body_len);
    memcpy(out + n, body, (size_t)body_len);
    n += (size_t)body_len;
    n += header(out + n, STDOUT, id, 0);
    n += header(out + n, END_REQUEST, id, 8);
    memset(out + n, 0, 8); /* appStatus 0, FCGI_REQUEST_COMPLETE */
    n += 8;
    return write_all(fd, out, n);
}

int main(void)
{
    unsigned long count = 0;
    useconds_t close_after_us = env_ms("CLOSE_AFTER_MS");
    delay_us = env_ms("SLEEP_MS");
    /* A web server that hung up early is an error on write, not a death. */
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int fd = accept(0, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return 1;
        }
        if (serve(fd, count + 1) == 0)
            count++;
        if (close_after_us)
            usleep(close_after_us);
        close(fd);
    }
}
