/* Sends raw Ethernet frames from inside a guest (AF_PACKET), for the capture
 * tests and benchmark: a hostile guest flooding a captured NIC, and a
 * measured stream whose frames can be counted in the pcap file.
 *
 *   frame_flood IFACE DST_MAC COUNT SIZE PPS MODE [RUN]
 *     COUNT frames of SIZE bytes (header included, at least 60) to DST_MAC,
 *     at PPS frames per second (0 = as fast as the kernel takes them).
 *     MODE "seq": EtherType 0x88b5, payload "HERDSEQ" + RUN (4 bytes) +
 *       sequence number (4 bytes, big endian), then zeros: countable.
 *     MODE "junk": random bytes after the source MAC (random EtherType,
 *       random lengths from 14 to SIZE bytes): what a hostile guest sends.
 *   Prints "sent N in S seconds" and exits 0; 1 on an error (printed).
 *
 * Built with gcc -static.
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
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: frame_flood IFACE DST_MAC COUNT SIZE PPS seq|junk [RUN]\n");
        return 1;
    }
    const char *ifname = argv[1];
    unsigned m[6];
    if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
        fprintf(stderr, "frame_flood: bad MAC %s\n", argv[2]);
        return 1;
    }
    long count = atol(argv[3]);
    int size = atoi(argv[4]);
    double pps = atof(argv[5]);
    int junk = strcmp(argv[6], "junk") == 0;
    uint32_t run = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 10) : 0;
    if (size < 60 || size > 9000) {
        fprintf(stderr, "frame_flood: SIZE must be 60-9000\n");
        return 1;
    }
    rng ^= (uint64_t)getpid() << 20;

    int s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s < 0) {
        perror("frame_flood: socket");
        return 1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
        perror("frame_flood: SIOCGIFINDEX");
        return 1;
    }
    int ifindex = ifr.ifr_ifindex;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        perror("frame_flood: SIOCGIFHWADDR");
        return 1;
    }
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    for (int i = 0; i < 6; ++i) to.sll_addr[i] = (unsigned char)m[i];

    unsigned char frame[9000];
    memset(frame, 0, sizeof frame);
    for (int i = 0; i < 6; ++i) frame[i] = (unsigned char)m[i];
    memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);

    double t0 = now();
    long sent = 0;
    for (long i = 0; i < count; ++i) {
        int len = size;
        if (junk) {
            len = 14 + (int)(next_random() % (uint64_t)(size - 13));
            for (int k = 12; k < len; k += 8) {
                uint64_t r = next_random();
                memcpy(frame + k, &r, (size_t)(len - k < 8 ? len - k : 8));
            }
        } else {
            frame[12] = 0x88;
            frame[13] = 0xb5;
            memcpy(frame + 14, "HERDSEQ", 7);
            uint32_t r = htonl(run), q = htonl((uint32_t)i);
            memcpy(frame + 21, &r, 4);
            memcpy(frame + 25, &q, 4);
        }
        if (pps > 0) {
            double due = t0 + (double)i / pps;
            while (now() < due) {
            }
        }
        for (;;) {
            if (sendto(s, frame, (size_t)len, 0, (struct sockaddr *)&to, sizeof to) >= 0) {
                ++sent;
                break;
            }
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
            /* A junk frame the kernel refuses (too short for its type) is skipped. */
            if (junk && errno == EINVAL) break;
            perror("frame_flood: sendto");
            return 1;
        }
    }
    double took = now() - t0;
    printf("sent %ld in %.3f seconds\n", sent, took);
    return 0;
}
