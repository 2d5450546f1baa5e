/* A FastCGI responder written without libfcgi that answers every request
 * in the way the MISBEHAVE environment variable (read at start) names:
 *   die         close the connection without a word
 *   garbage     answer with plain CGI output instead of FastCGI records
 *   partial     send part of a response, then close without END_REQUEST
 *   overloaded  end the request with protocol status FCGI_OVERLOADED
 *   unknown     send a management record and a record of unknown type 42
 *               before a normal answer
 *   status      (default) a normal answer, a STDERR line, app status 7
 *   readpart    read the request up to its first STDIN record, then close
 *               with the rest unread (the peer sees a reset): a process
 *               that died having read part of a POST
 * Other modes read each request to the end of STDIN before answering. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= n;
    }
    return 0;
}

static void write_full(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return;
        p += n;
        len -= n;
    }
}

static void record(int fd, int type, int id, const void *content, size_t len)
{
    static const unsigned char zeros[8];
    unsigned char h[8] = {1, type, id >> 8, id & 0xff, len >> 8, len & 0xff, (8 - len % 8) % 8, 0};
    write_full(fd, h, 8);
    write_full(fd, content, len);
    write_full(fd, zeros, h[6]);
}

static void text(int fd, int type, const char *s)
{
    record(fd, type, 1, s, strlen(s));
}

static void end_request(int fd, unsigned app_status, int protocol_status)
{
    unsigned char body[8] = {app_status >> 24, app_status >> 16, app_status >> 8, app_status,
                             protocol_status, 0, 0, 0};
    record(fd, 3, 1, body, 8);
}

/* Reads records until the empty STDIN record (or, with `part`, the first
 * STDIN record with content); -1 if the connection ends first. */
static int read_request(int fd, int part)
{
    unsigned char h[8], body[65535 + 255];
    for (;;) {
        if (read_full(fd, h, 8) < 0)
            return -1;
        size_t len = (h[4] << 8 | h[5]) + h[6];
        if (read_full(fd, body, len) < 0)
            return -1;
        int content = h[4] || h[5];
        if (h[1] == 5 && content == part)
            return 0;
    }
}

static void answer(int fd, const char *mode)
{
    static const char head[] = "Content-Type: text/plain\r\n\r\n";
    if (strcmp(mode, "die") == 0)
        return;
    if (strcmp(mode, "garbage") == 0) {
        const char *cgi = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nplain CGI\n";
        write_full(fd, cgi, strlen(cgi));
        return;
    }
    if (strcmp(mode, "partial") == 0) {
        text(fd, 6, head);
        text(fd, 6, "partial");
        return;
    }
    if (strcmp(mode, "overloaded") == 0) {
        end_request(fd, 0, 2);
        return;
    }
    if (strcmp(mode, "unknown") == 0) {
        unsigned char unknown_type[8] = {42};
        record(fd, 11, 0, unknown_type, 8);
        record(fd, 42, 1, "?", 1);
        text(fd, 6, head);
        text(fd, 6, "after unknown records\n");
        text(fd, 6, "");
        end_request(fd, 0, 0);
        return;
    }
    text(fd, 6, head);
    text(fd, 6, "app status 7\n");
    text(fd, 7, "a line on stderr\n");
    text(fd, 6, "");
    text(fd, 7, "");
    end_request(fd, 7, 0);
}

int main(void)
{
    const char *mode = getenv("MISBEHAVE");
    if (!mode)
        mode = "status";
    for (;;) {
        int fd = accept(0, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        int part = strcmp(mode, "readpart") == 0;
        if (read_request(fd, part) == 0 && !part)
            answer(fd, mode);
        close(fd);
    }
}
