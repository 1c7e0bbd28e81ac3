/* Guest side of test_cc_tunnel.py (built with `gcc -static`, run inside a
 * container from /scratch). Prints `key=value` facts on stdout.
 *
 *   tunnel_guest echo <port>
 *       TCP echo server on :<port> (every address), a process per
 *       connection; runs until killed.
 *   tunnel_guest roundtrip <port> <bytes>
 *       connects to 127.0.0.1:<port>, sends <bytes> bytes of a pattern while
 *       reading back as many; reports `match=1` when they are byte-exact.
 *   tunnel_guest hostile <hold>
 *       a hostile agent on /cc (herd's cc protocol, src/proto/ccproto.h):
 *       says hello, floods 64 MiB of tunnel data for streams it was never
 *       given plus acks and closes for them and reverse connections for a
 *       tunnel that does not exist, then waits for a real `tconnect`, never
 *       acknowledges nor reads its data for <hold> s, and finally sends
 *       32 MiB for that stream without reading the acknowledgements,
 *       then holds the connection 12 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static int send_frame(int fd, const char *header, const char *body, size_t blen) {
    size_t hlen = strlen(header);
    unsigned char pre[8];
    put32(pre, (uint32_t)(4 + hlen + blen));
    put32(pre + 4, (uint32_t)hlen);
    if (send_all(fd, pre, 8) || send_all(fd, header, hlen)) return -1;
    return blen ? send_all(fd, body, blen) : 0;
}

/* Reads one frame; its header into h (NUL-terminated); -1 at EOF. */
static int read_frame(int fd, char *h, size_t cap) {
    unsigned char pre[8];
    size_t got = 0;
    while (got < 8) {
        ssize_t n = recv(fd, pre + got, 8 - got, 0);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    uint32_t len = (uint32_t)pre[0] << 24 | pre[1] << 16 | pre[2] << 8 | pre[3];
    uint32_t hlen = (uint32_t)pre[4] << 24 | pre[5] << 16 | pre[6] << 8 | pre[7];
    for (uint32_t i = 0; i < len - 4; ++i) {
        char ch;
        if (recv(fd, &ch, 1, 0) != 1) return -1;
        if (i < hlen && i + 1 < cap) h[i] = ch;
    }
    h[hlen < cap ? hlen : cap - 1] = 0;
    return 0;
}

static int echo(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16)) {
        printf("error=listen %s\n", strerror(errno));
        return 1;
    }
    signal(SIGCHLD, SIG_IGN);
    printf("listening=1\n");
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        if (fork() == 0) {
            char buf[65536];
            ssize_t n;
            while ((n = recv(c, buf, sizeof buf, 0)) > 0)
                if (send_all(c, buf, (size_t)n)) break;
            _exit(0);
        }
        close(c);
    }
}

static int roundtrip(int port, size_t total) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        printf("error=connect %s\n", strerror(errno));
        return 1;
    }
    size_t sent = 0, got = 0;
    int match = 1;
    char buf[65536];
    while (got < total) {
        struct pollfd p = {fd, POLLIN | (sent < total ? POLLOUT : 0), 0};
        if (poll(&p, 1, 20000) <= 0) break;
        if ((p.revents & POLLOUT) && sent < total) {
            size_t n = total - sent < sizeof buf ? total - sent : sizeof buf;
            for (size_t i = 0; i < n; ++i) buf[i] = (char)((sent + i) * 7 % 251);
            ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            for (ssize_t i = 0; i < n; ++i)
                if (buf[i] != (char)((got + (size_t)i) * 7 % 251)) match = 0;
            got += (size_t)n;
        }
    }
    printf("sent=%zu\ngot=%zu\nmatch=%d\n", sent, got, match && got == total);
    return 0;
}

static int hostile(int hold) {
    char id[128] = {0}, h[8192];
    FILE *f = fopen("/sys/devices/virtual/dmi/id/product_uuid", "r");
    if (f) {
        if (!fgets(id, sizeof id, f)) id[0] = 0;
        fclose(f);
    }
    id[strcspn(id, " \r\n")] = 0;
    for (char *c = id; *c; ++c)
        if (*c >= 'A' && *c <= 'Z') *c += 32;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un u = {0};
    u.sun_family = AF_UNIX;
    strcpy(u.sun_path, "/cc");
    if (connect(fd, (struct sockaddr *)&u, sizeof u)) {
        printf("error=connect %s\n", strerror(errno));
        return 1;
    }
    snprintf(h, sizeof h,
             "{\"type\":\"hello\",\"version\":1,\"uuid\":\"%s\",\"hostname\":\"evil\"}", id);
    send_frame(fd, h, NULL, 0);
    if (read_frame(fd, h, sizeof h) || !strstr(h, "welcome")) {
        printf("error=not welcomed\n");
        return 1;
    }
    static char piece[32768];
    memset(piece, 'x', sizeof piece);
    size_t flood = 0;
    for (int i = 0; i < 2048; ++i) {
        snprintf(h, sizeof h, "{\"type\":\"tdata\",\"sid\":%d}", 1000001 + 2 * (i % 64));
        if (send_frame(fd, h, piece, sizeof piece)) break;
        flood += sizeof piece;
        snprintf(h, sizeof h, "{\"type\":\"tack\",\"sid\":%d,\"n\":1000000}", 1000001 + 2 * i);
        send_frame(fd, h, NULL, 0);
        snprintf(h, sizeof h, "{\"type\":\"tclose\",\"sid\":%d,\"eof\":true}", 3 + 2 * i);
        send_frame(fd, h, NULL, 0);
    }
    printf("flood=%zu\n", flood);
    fflush(stdout);
    /* Wait for the real tunnel's stream, reading frames until it comes. */
    long sid = -1;
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (sid < 0) {
        if (read_frame(fd, h, sizeof h)) break;
        char *t = strstr(h, "\"tconnect\"");
        char *s = strstr(h, "\"sid\":");
        if (t && s) sid = strtol(s + 6, NULL, 10);
    }
    printf("sid=%ld\n", sid);
    fflush(stdout);
    if (sid < 0) return 1;
    /* Never read nor acknowledge: the daemon must stop reading the host
     * connection by itself. */
    sleep(hold);
    for (int i = 0; i < 1024; ++i) {
        snprintf(h, sizeof h, "{\"type\":\"tdata\",\"sid\":%ld}", sid);
        if (send_frame(fd, h, piece, sizeof piece)) break;
    }
    printf("overflowed=1\n");
    fflush(stdout);
    sleep(12);
    printf("done=1\n");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "echo")) return echo(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "roundtrip"))
        return roundtrip(atoi(argv[2]), strtoul(argv[3], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "hostile")) return hostile(atoi(argv[2]));
    fprintf(stderr, "usage: tunnel_guest echo|roundtrip|hostile ...\n");
    return 2;
}
