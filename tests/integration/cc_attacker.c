/* A hostile cc agent, run inside a guest by test_sec_cc.py (built with
 * `gcc -static`). It speaks herd's cc protocol on /cc (see src/agent/ccproto.h:
 * frames of u32 BE length, u32 BE header length, JSON header, body) badly on
 * purpose and prints what it saw on stdout, one `key=value` line per fact.
 *
 *   cc_attacker flood <conns> <bytes> <t1> <t2>
 *       opens <conns> connections without a hello; on each, sends a frame
 *       length of 8 MiB and then <bytes> bytes of it; reports how many are
 *       still open after <t1> and after <t2> seconds.
 *   cc_attacker nofile <frames> <hold>
 *       says hello, sends <frames> unfinished file frames (eof false) under
 *       ids and paths nobody asked for, holds the connection <hold> s.
 *   cc_attacker unsolicited <frames> <hold>
 *       says hello, sends <frames> finished 1 MiB file frames and responses
 *       under ids 1..<frames>, holds <hold> s.
 *   cc_attacker nest <bytes>
 *       says hello, then one frame whose header is <bytes> of `[`; reports
 *       whether the daemon closed the connection.
 *   cc_attacker owed <hold>
 *       says hello, waits for a command with files to send back (a `cc
 *       recv`), starts every one of them (eof false) and never finishes
 *       any; holds the connection <hold> s.
 *   cc_attacker text <hold>
 *       a first frame whose type holds ESC and newlines (instead of a
 *       hello), then a hello whose hostname, os, arch, addresses and MACs
 *       hold them; holds the connection <hold> s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int dial(void) {
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, "/cc");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    /* Never block for long on a daemon that stopped reading. */
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

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

/* Whether the peer closed fd (EOF or error), without waiting. */
static int is_closed(int fd) {
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return 1;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Waits up to `secs` for the peer to close fd. */
static int wait_closed(int fd, int secs) {
    for (int i = 0; i < secs * 10; ++i) {
        if (is_closed(fd)) return 1;
        usleep(100000);
    }
    return 0;
}

static void uuid(char *out, size_t n) {
    FILE *f = fopen("/sys/devices/virtual/dmi/id/product_uuid", "r");
    out[0] = 0;
    if (f) {
        if (!fgets(out, (int)n, f)) out[0] = 0;
        fclose(f);
    }
    out[strcspn(out, " \r\n")] = 0;
    for (char *c = out; *c; ++c)
        if (*c >= 'A' && *c <= 'Z') *c += 32;
}

/* Reads one whole frame's header into h (NUL-terminated); -1 at EOF. */
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

/* Connects and says hello (with `extra` JSON members); waits for the welcome. */
static int hello(const char *extra) {
    char id[128], h[8192];
    uuid(id, sizeof id);
    int fd = dial();
    if (fd < 0) {
        printf("error=connect %s\n", strerror(errno));
        exit(1);
    }
    snprintf(h, sizeof h, "{\"type\":\"hello\",\"version\":1,\"uuid\":\"%s\"%s%s}", id,
             *extra ? "," : "", extra);
    if (send_frame(fd, h, NULL, 0)) {
        printf("error=hello not sent\n");
        exit(1);
    }
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) {
        printf("error=no welcome\n");
        exit(1);
    }
    /* Exactly one frame: what follows (commands) is the caller's. */
    if (read_frame(fd, buf, sizeof buf) || !strstr(buf, "welcome")) {
        printf("error=not welcomed\n");
        exit(1);
    }
    printf("welcomed=1\n");
    fflush(stdout);
    return fd;
}

static int count_open(int *fds, int n) {
    int open = 0;
    for (int i = 0; i < n; ++i) {
        if (fds[i] >= 0 && is_closed(fds[i])) {
            close(fds[i]);
            fds[i] = -1;
        }
        if (fds[i] >= 0) ++open;
    }
    return open;
}

static int flood(int conns, long bytes, int t1, int t2) {
    int *fds = calloc((size_t)conns, sizeof *fds);
    char *junk = malloc(65536);
    memset(junk, 'A', 65536);
    for (int i = 0; i < conns; ++i) {
        fds[i] = dial();
        if (fds[i] < 0 || bytes == 0) continue;
        unsigned char len[4];
        put32(len, 8u << 20);
        if (send_all(fds[i], len, 4)) continue;
        for (long sent = 0; sent < bytes;) {
            size_t n = (size_t)(bytes - sent < 65536 ? bytes - sent : 65536);
            if (send_all(fds[i], junk, n)) break;
            sent += (long)n;
        }
    }
    sleep((unsigned)t1);
    printf("open_t1=%d\n", count_open(fds, conns));
    fflush(stdout);
    sleep((unsigned)(t2 - t1));
    printf("open_t2=%d\n", count_open(fds, conns));
    return 0;
}

static int nofile(int frames, int hold) {
    int fd = hello("");
    char h[256];
    int sent = 0;
    for (int i = 0; i < frames; ++i) {
        snprintf(h, sizeof h,
                 "{\"type\":\"file\",\"id\":%d,\"path\":\"/tmp/held/f%d\",\"eof\":false}",
                 100000 + i, i);
        if (send_frame(fd, h, "x", 1)) break;
        ++sent;
    }
    printf("sent=%d\n", sent);
    fflush(stdout);
    sleep((unsigned)hold);
    printf("closed=%d\n", is_closed(fd));
    return 0;
}

static int unsolicited(int frames, int hold) {
    int fd = hello("");
    size_t mib = 1u << 20;
    char *body = malloc(mib);
    memset(body, 'U', mib);
    char h[256];
    int sent = 0;
    for (int i = 1; i <= frames; ++i) {
        snprintf(h, sizeof h, "{\"type\":\"file\",\"id\":%d,\"path\":\"/junk/f%d\",\"eof\":true}",
                 i, i);
        if (send_frame(fd, h, body, mib)) break;
        snprintf(h, sizeof h,
                 "{\"type\":\"response\",\"id\":%d,\"stdout\":%zu,\"stderr\":0,\"exitcode\":0}",
                 i, mib);
        if (send_frame(fd, h, body, mib)) break;
        ++sent;
    }
    printf("sent=%d\n", sent);
    fflush(stdout);
    sleep((unsigned)hold);
    return 0;
}

static int nest(long bytes) {
    int fd = hello("");
    char *h = malloc((size_t)bytes + 1);
    memset(h, '[', (size_t)bytes);
    h[bytes] = 0;
    int ok = send_frame(fd, h, NULL, 0) == 0;
    printf("sent=%d\n", ok);
    printf("closed=%d\n", wait_closed(fd, 20));
    return 0;
}

static int text(int hold) {
    /* A first frame that is not a hello: its type is logged. */
    int fd = dial();
    send_frame(fd, "{\"type\":\"\\u001b[2J\\nFAKE LOG LINE \\u001b]0;pwned\\u0007\"}", NULL, 0);
    printf("junk_closed=%d\n", wait_closed(fd, 5));
    close(fd);
    fd = hello(
        "\"hostname\":\"evil\\u001b[31m\\nfake-row\\r\\u0085x\",\"os\":\"li\\nnux\","
        "\"arch\":\"\\u001b[2Jamd64\",\"ip\":[\"10.9.9.9\\u001b[0m\",\"not-an-ip\","
        "\"10.9.9.8\",\"2001:DB8::0001\"],\"mac\":[\"00:11:22:33:44:55\\n\",\"AA:BB:CC:DD:EE:FF\"]");
    fflush(stdout);
    sleep((unsigned)hold);
    printf("closed=%d\n", is_closed(fd));
    return 0;
}

static int owed(int hold) {
    int fd = hello("");
    static char h[1 << 16];
    for (;;) {
        if (read_frame(fd, h, sizeof h)) {
            printf("error=closed before a command\n");
            return 1;
        }
        if (strstr(h, "\"type\":\"command\"") && strstr(h, "\"recv\":[\""))
            break;
    }
    long id = atol(strstr(h, "\"id\":") + 5);
    int files = 0;
    char out[512];
    for (char *p = strstr(h, "\"recv\":[") + 8; *p == '"';) {
        char *end = strchr(p + 1, '"');
        if (!end) break;
        *end = 0;
        snprintf(out, sizeof out, "{\"type\":\"file\",\"id\":%ld,\"path\":\"%s\",\"eof\":false}",
                 id, p + 1);
        if (send_frame(fd, out, "partial", 7) == 0) ++files;
        p = end + 1;
        if (*p == ',') ++p;
    }
    printf("id=%ld\nfiles=%d\n", id, files);
    fflush(stdout);
    sleep((unsigned)hold);
    printf("closed=%d\n", is_closed(fd));
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 6 && !strcmp(argv[1], "flood"))
        return flood(atoi(argv[2]), atol(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 4 && !strcmp(argv[1], "nofile")) return nofile(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 4 && !strcmp(argv[1], "unsolicited"))
        return unsolicited(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "nest")) return nest(atol(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "text")) return text(atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "owed")) return owed(atoi(argv[2]));
    fprintf(stderr, "usage: see the comment at the top of cc_attacker.c\n");
    return 2;
}
