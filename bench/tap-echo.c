/*
 * tap-echo: the floor for bench/rtt.sh. The least a userspace program must do to answer a ping on a TAP: attach to
 * the TAP as UserNet does (IFF_TAP | IFF_NO_PI, one frame per read and per write), answer ARP requests for its
 * address and ICMP echo requests to it, nothing else. No stack, no timers, no threads.
 *
 *   tap-echo TAP A.B.C.D [poll|block]
 *
 * poll  (default): the fd is non-blocking; read until EAGAIN, then poll(2) on the fd, as UserNet's loop does when idle
 *       (UserNet also polls an eventfd; this polls the TAP alone).
 * block: a blocking read(2) per frame: one syscall fewer per packet than poll + read.
 * Prints "tap-echo: up" once attached; exits on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const uint8_t our_mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
static uint8_t our_ip[4];

static uint16_t checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (; n > 1; p += 2, n -= 2) sum += (uint32_t)p[0] << 8 | p[1];
    if (n) sum += (uint32_t)p[0] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Turns the request in f (n bytes) into its reply in place; returns the reply's length, or 0 for no reply. */
static size_t answer(uint8_t *f, size_t n)
{
    if (n < 14) return 0;
    uint16_t type = f[12] << 8 | f[13];
    uint8_t *l3 = f + 14;
    if (type == 0x0806 && n >= 14 + 28) {
        /* ARP request (Ethernet, IPv4) for our address */
        if (!(l3[0] == 0 && l3[1] == 1 && l3[2] == 8 && l3[3] == 0 && l3[7] == 1)) return 0;
        if (memcmp(l3 + 24, our_ip, 4) != 0) return 0;
        memcpy(f, l3 + 8, 6);            /* to the sender */
        memcpy(f + 6, our_mac, 6);
        l3[7] = 2;                       /* reply */
        memcpy(l3 + 18, l3 + 8, 10);     /* target = the sender (mac, ip) */
        memcpy(l3 + 8, our_mac, 6);
        memcpy(l3 + 14, our_ip, 4);
        return 14 + 28;
    }
    if (type != 0x0800 || n < 14 + 20) return 0;
    size_t ihl = (size_t)(l3[0] & 0x0f) * 4;
    size_t total = l3[2] << 8 | l3[3];
    if ((l3[0] >> 4) != 4 || ihl < 20 || total < ihl + 8 || 14 + total > n) return 0;
    if (l3[9] != 1 || memcmp(l3 + 16, our_ip, 4) != 0) return 0;
    uint8_t *icmp = l3 + ihl;
    if (icmp[0] != 8 || icmp[1] != 0) return 0; /* echo request only */
    uint8_t mac[6];
    memcpy(mac, f + 6, 6);
    memcpy(f, mac, 6);
    memcpy(f + 6, our_mac, 6);
    memcpy(l3 + 16, l3 + 12, 4);         /* destination = the source */
    memcpy(l3 + 12, our_ip, 4);
    l3[8] = 64;
    put16(l3 + 10, 0);
    put16(l3 + 10, checksum(l3, ihl));
    icmp[0] = 0;                         /* echo reply */
    put16(icmp + 2, 0);
    put16(icmp + 2, checksum(icmp, total - ihl));
    return 14 + total;
}

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s TAP A.B.C.D [poll|block]\n", argv[0]); return 2; }
    int blocking = argc > 3 && strcmp(argv[3], "block") == 0;
    if (inet_pton(AF_INET, argv[2], our_ip) != 1) { fprintf(stderr, "tap-echo: bad address %s\n", argv[2]); return 2; }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (blocking ? 0 : O_NONBLOCK));
    if (fd < 0) { perror("tap-echo: open /dev/net/tun"); return 2; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("tap-echo: TUNSETIFF"); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;           /* no SA_RESTART: a blocking read returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("tap-echo: up on %s ip %s (%s)\n", argv[1], argv[2], blocking ? "blocking read" : "poll + non-blocking read");
    fflush(stdout);

    static uint8_t frame[65536];
    unsigned long frames = 0, replies = 0;
    while (!stop) {
        ssize_t n = read(fd, frame, sizeof frame);
        if (n < 0) {
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                poll(&p, 1, -1);
            }
            continue;                    /* EINTR: the loop checks stop */
        }
        frames++;
        size_t r = answer(frame, (size_t)n);
        if (r > 0 && write(fd, frame, r) == (ssize_t)r) replies++;
    }
    printf("tap-echo: down; %lu frames, %lu replies\n", frames, replies);
    return 0;
}
