/*
 * The TAP's own floor, for bench/tcp-throughput.sh: what a bare userspace loop can take from a TAP, with nothing
 * above it. Two modes:
 *   tapfloor read TAP SECONDS     attach to TAP (IFF_TAP|IFF_NO_PI, plain frames, one read(2) per frame, blocking),
 *                                 read for SECONDS after the first frame, print "FRAMES BYTES SECONDS".
 *   tapfloor flood IP PORT SECONDS  the kernel's side: send 1472-byte UDP datagrams to IP:PORT as fast as sendmmsg
 *                                 lets, for SECONDS (run it in the namespace of the TAP's kernel end, with a static
 *                                 neighbour entry for IP so that nothing waits for ARP).
 * Written for the bench, not the library: plain C so that the floor owes nothing to .NET.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int do_read(const char *tap, double seconds)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) { perror("open /dev/net/tun"); return 2; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 2; }
    printf("attached\n");
    fflush(stdout);
    static unsigned char buf[65536];
    long frames = 0, bytes = 0;
    double start = 0, end = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) { perror("read"); return 2; }
        if (n < 42 || buf[12] != 0x08 || buf[13] != 0x00) continue; /* IPv4 only: not the kernel's IPv6 chatter */
        if (frames == 0) start = now();
        frames++;
        bytes += n;
        if ((frames & 1023) == 0 && (end = now()) - start >= seconds) break;
    }
    printf("%ld %ld %.6f\n", frames, bytes, end - start);
    return 0;
}

static int do_flood(const char *ip, int port, double seconds)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) { perror("socket"); return 2; }
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", ip); return 2; }
    if (connect(s, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 2; }
    static unsigned char payload[1472];
    enum { Batch = 64 };
    struct iovec iov[Batch];
    struct mmsghdr msgs[Batch];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < Batch; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = sizeof payload;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    double end = now() + seconds;
    while (now() < end) sendmmsg(s, msgs, Batch, 0); /* a full TAP queue drops: that is the reader's limit showing */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "read") == 0) return do_read(argv[2], atof(argv[3]));
    if (argc == 5 && strcmp(argv[1], "flood") == 0) return do_flood(argv[2], atoi(argv[3]), atof(argv[4]));
    fprintf(stderr, "usage: tapfloor read TAP SECONDS | tapfloor flood IP PORT SECONDS\n");
    return 2;
}
