/* The real servers of bench/ldirectord, in C: the same protocol as realservers.py (which it
 * replaces by default, see README.md), about seven times cheaper per request, so that the
 * start-up round of N=1000 checks measures the daemon and not the server.
 *
 * ONE process answering HTTP on 0.0.0.0:PORT, i.e. on every 127.x address of the (private)
 * namespace loopback. Every request is logged as `<unix time> <local address>` to LOG. A
 * datagram on the control socket CTL changes how an address answers: `dead ADDR` (500),
 * `alive ADDR` (200 again), `dribble ADDR` (a 200 head announcing a 10 MB body, one byte per
 * segment every 10 ms, until the client closes or 60 s have passed), `steady ADDR` (no more
 * dribbling); the server answers the sender with the time the change took effect and logs
 * `<time> DEAD|ALIVE|DRIBBLE|STEADY ADDR`. `stats -` answers the number of bytes dribbled.
 *
 *     realservers PORT LOG CTL
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 65536
#define MAX_ADDRS 4096
#define DRIBBLE_EVERY_NS 10000000L
#define DRIBBLE_MAX_S 60.0

static const char OK[] = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 24\r\n\r\n"
                         "habox bench: real is OK\n";
static const char FAIL[] = "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
static const char DRIBBLE_HEAD[] =
    "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10000000\r\n\r\n";

struct conn {
    int open;
    int dribbling;
    size_t sent;
    double since;
    /* The last 3 bytes seen, enough to find "\r\n\r\n" across reads. */
    char tail[3];
    size_t tail_len;
};

static struct conn conns[MAX_FD];
static int max_fd;

/* Addresses (IPv4, network order) marked dead or dribbling. */
static uint32_t dead[MAX_ADDRS], dribble[MAX_ADDRS];
static size_t n_dead, n_dribble;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int member(const uint32_t *set, size_t n, uint32_t a) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == a)
            return 1;
    return 0;
}

static void add(uint32_t *set, size_t *n, uint32_t a) {
    if (!member(set, *n, a) && *n < MAX_ADDRS)
        set[(*n)++] = a;
}

static void discard(uint32_t *set, size_t *n, uint32_t a) {
    for (size_t i = 0; i < *n; i++)
        if (set[i] == a) {
            set[i] = set[--*n];
            return;
        }
}

static void close_conn(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].open = 0;
}

/* Whether "\r\n\r\n" ends in the bytes seen so far of `fd`, `data` being the new ones. */
static int head_complete(struct conn *c, const char *data, size_t n) {
    char joined[3 + 4096];
    memcpy(joined, c->tail, c->tail_len);
    memcpy(joined + c->tail_len, data, n);
    size_t len = c->tail_len + n;
    int found = memmem(joined, len, "\r\n\r\n", 4) != NULL;
    c->tail_len = len < 3 ? len : 3;
    memcpy(c->tail, joined + len - c->tail_len, c->tail_len);
    return found;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: realservers PORT LOG CTL\n");
        return 2;
    }
    int port = atoi(argv[1]);
    FILE *log = fopen(argv[2], "a");
    if (!log) {
        perror(argv[2]);
        return 1;
    }
    static char logbuf[1 << 16];
    setvbuf(log, logbuf, _IOFBF, sizeof logbuf);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 4096)) {
        perror("listen");
        return 1;
    }
    unlink(argv[3]);
    int ctl = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    strncpy(su.sun_path, argv[3], sizeof su.sun_path - 1);
    if (bind(ctl, (struct sockaddr *)&su, sizeof su)) {
        perror(argv[3]);
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    ev.data.fd = ctl;
    epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev);

    long long dribbled = 0;
    int n_dribbling = 0;
    double next_drip = now();
    struct epoll_event events[256];
    char buf[4096];

    for (;;) { /* until SIGTERM (default action) */
        double t = now();
        if (n_dribbling && t >= next_drip) {
            next_drip = t + DRIBBLE_EVERY_NS / 1e9;
            n_dribbling = 0;
            for (int fd = 0; fd <= max_fd; fd++) {
                struct conn *c = &conns[fd];
                if (!c->open || !c->dribbling)
                    continue;
                char byte = c->sent < sizeof DRIBBLE_HEAD - 1 ? DRIBBLE_HEAD[c->sent] : 'd';
                if (t - c->since > DRIBBLE_MAX_S || send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
                    close_conn(ep, fd);
                    continue;
                }
                c->sent++;
                dribbled++;
                n_dribbling++;
            }
        }
        int timeout = 1000;
        if (n_dribbling) {
            double left = next_drip - now();
            timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        int n = epoll_wait(ep, events, 256, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0)
                        break;
                    if (c >= MAX_FD) {
                        close(c);
                        continue;
                    }
                    conns[c] = (struct conn){.open = 1};
                    if (c > max_fd)
                        max_fd = c;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
            } else if (fd == ctl) {
                struct sockaddr_un peer;
                socklen_t plen = sizeof peer;
                ssize_t m = recvfrom(ctl, buf, sizeof buf - 1, 0, (struct sockaddr *)&peer, &plen);
                if (m <= 0)
                    continue;
                buf[m] = 0;
                char verb[16], addr[64];
                if (sscanf(buf, "%15s %63s", verb, addr) != 2)
                    continue;
                if (!strcmp(verb, "stats")) {
                    int k = snprintf(buf, sizeof buf, "%lld", dribbled);
                    if (plen > sizeof(sa_family_t))
                        sendto(ctl, buf, k, 0, (struct sockaddr *)&peer, plen);
                    continue;
                }
                struct in_addr a;
                if (inet_pton(AF_INET, addr, &a) != 1)
                    continue;
                if (!strcmp(verb, "dead"))
                    add(dead, &n_dead, a.s_addr);
                else if (!strcmp(verb, "alive"))
                    discard(dead, &n_dead, a.s_addr);
                else if (!strcmp(verb, "dribble"))
                    add(dribble, &n_dribble, a.s_addr);
                else
                    discard(dribble, &n_dribble, a.s_addr);
                double at = now();
                for (char *p = verb; *p; p++)
                    *p = (char)(*p - ('a' - 'A') * (*p >= 'a' && *p <= 'z'));
                fprintf(log, "%.6f %s %s\n", at, verb, addr);
                fflush(log);
                if (plen > sizeof(sa_family_t)) {
                    int k = snprintf(buf, sizeof buf, "%.6f", at);
                    sendto(ctl, buf, k, 0, (struct sockaddr *)&peer, plen);
                }
            } else {
                struct conn *c = &conns[fd];
                ssize_t m = recv(fd, buf, sizeof buf, 0);
                if (m < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (m <= 0) {
                    close_conn(ep, fd);
                    continue;
                }
                if (c->dribbling || !head_complete(c, buf, (size_t)m))
                    continue;
                struct sockaddr_in local;
                socklen_t llen = sizeof local;
                getsockname(fd, (struct sockaddr *)&local, &llen);
                char text[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
                fprintf(log, "%.6f %s\n", now(), text);
                if (member(dribble, n_dribble, local.sin_addr.s_addr)) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c->dribbling = 1;
                    c->since = now();
                    n_dribbling++;
                    continue;
                }
                if (member(dead, n_dead, local.sin_addr.s_addr))
                    send(fd, FAIL, sizeof FAIL - 1, MSG_NOSIGNAL);
                else
                    send(fd, OK, sizeof OK - 1, MSG_NOSIGNAL);
                close_conn(ep, fd);
            }
        }
        fflush(log);
    }
}
