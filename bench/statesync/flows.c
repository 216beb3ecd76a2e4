/* Long-lived TCP flows for bench/statesync, the same protocol and JSON summary as flows.py
 * but in one epoll loop in C: far cheaper per line than the Python version, for N = 10,000
 * (100,000 lines a second). Built by run.sh with cc.
 *
 *   flows server PORT
 *   flows client ADDR PORT N SECONDS [INTERVAL_MS]
 *
 * Bounded: the client stops sending after SECONDS and exits after a 3 s drain. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE 9
/* The window after the fault (SIGUSR1 from run.sh) in which the failover's gaps are counted. */
#define WINDOW 5.0

static volatile sig_atomic_t fault_signal;
static void on_fault(int sig) {
    (void)sig;
    fault_signal = 1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Wall-clock time, to set the outage beside the daemons' timestamped logs. */
static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int server(int port) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16384)) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[512];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("listening\n");
    fflush(stdout);
    char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0 || send(fd, buf, r, MSG_NOSIGNAL) != r)
                close(fd); /* an echo that does not fit the socket buffer ends the flow */
        }
    }
}

struct flow {
    int fd, up, dead;
    long sent, echoed;
    char buf[LINE];
    int have;
    double last, gap, gap_at; /* gap_at: when the longest gap ended */
    double fgap;              /* the longest gap that overlaps the fault window */
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int client(const char *addr, int port, int n, double seconds, int interval_ms) {
    signal(SIGUSR1, on_fault);
    double interval = interval_ms / 1000.0;
    struct flow *f = calloc(n, sizeof *f);
    int ep = epoll_create1(0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, addr, &a.sin_addr);
    struct epoll_event evs[1024];
    for (int base = 0; base < n; base += 200) {
        int top = base + 200 < n ? base + 200 : n, pending = 0;
        for (int i = base; i < top; i++) {
            f[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            setsockopt(f[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(f[i].fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
                f[i].dead = 1;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
            epoll_ctl(ep, EPOLL_CTL_ADD, f[i].fd, &ev);
            pending++;
        }
        double end = now() + 10;
        while (pending && now() < end) {
            int k = epoll_wait(ep, evs, 1024, 500);
            for (int j = 0; j < k; j++) {
                struct flow *g = &f[evs[j].data.u32];
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) {
                    g->dead = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, g->fd, NULL);
                } else {
                    g->up = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[j].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, g->fd, &ev);
                }
                pending--;
            }
        }
    }
    int connected = 0, live = 0;
    int *order = malloc(n * sizeof *order);
    for (int i = 0; i < n; i++)
        if (f[i].up) {
            connected++;
            order[live++] = i;
        }
    printf("ready\n");
    fflush(stdout);
    double start = now(), stop = start + seconds, drain_end = stop + 3, last_any = start,
           outage = 0, outage_from = 0, *due = malloc((live ? live : 1) * sizeof *due);
    long misordered = 0;
    for (int k = 0; k < live; k++) {
        due[k] = start + interval * k / live;
        f[order[k]].last = start;
    }
    int k = 0;
    char buf[65536];
    double fault = 0, fault_outage = 0;
    for (;;) {
        double t = now();
        if (fault_signal && fault == 0)
            fault = t;
        if (t >= drain_end)
            break;
        int m = epoll_wait(ep, evs, 1024, 1);
        for (int j = 0; j < m; j++) {
            struct flow *g = &f[evs[j].data.u32];
            ssize_t r = recv(g->fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                g->dead = 1;
                epoll_ctl(ep, EPOLL_CTL_DEL, g->fd, NULL);
                continue;
            }
            for (ssize_t p = 0; p < r; p++) {
                g->buf[g->have++] = buf[p];
                if (g->have == LINE) {
                    char want[24];
                    snprintf(want, sizeof want, "%08ld\n", g->echoed / LINE);
                    if (memcmp(want, g->buf, LINE))
                        misordered++;
                    g->echoed += LINE;
                    g->have = 0;
                }
            }
            double tr = now();
            /* A gap counts for the fault when it overlaps [fault, fault + WINDOW]. */
            if (fault > 0 && tr > fault && g->last < fault + WINDOW && tr - g->last > g->fgap)
                g->fgap = tr - g->last;
            if (tr - g->last > g->gap) {
                g->gap = tr - g->last;
                g->gap_at = tr;
            }
            g->last = tr;
            if (fault > 0 && tr > fault && last_any < fault + WINDOW && tr - last_any > fault_outage)
                fault_outage = tr - last_any;
            if (tr - last_any > outage) {
                outage = tr - last_any;
                outage_from = last_any;
            }
            last_any = tr;
        }
        t = now();
        if (t < stop) {
            for (int c = 0; live && c < live && due[k] <= t; c++) {
                struct flow *g = &f[order[k]];
                if (!g->dead) {
                    char line[24];
                    snprintf(line, sizeof line, "%08ld\n", g->sent / LINE);
                    ssize_t s = send(g->fd, line, LINE, MSG_NOSIGNAL);
                    if (s == LINE)
                        g->sent += LINE;
                    else if (s < 0 && errno != EAGAIN)
                        g->dead = 1;
                }
                due[k] += interval;
                k = (k + 1) % live;
            }
        } else {
            int open = 0;
            for (int c = 0; c < live; c++)
                if (!f[order[c]].dead && f[order[c]].echoed < f[order[c]].sent)
                    open = 1;
            if (!open)
                break;
        }
    }
    double end = now(), to_wall = wall() - end;
    long reset = 0, stalled = 0, lost = 0, fault_stalled = 0;
    double max_gap = 0;
    for (int i = 0; i < n; i++)
        if (f[i].dead)
            reset++;
    for (int c = 0; c < live; c++) {
        struct flow *g = &f[order[c]];
        if (g->echoed < g->sent && end - g->last > g->gap) {
            g->gap = end - g->last;
            g->gap_at = end;
        }
        if (fault > 0 && g->echoed < g->sent && g->last < fault + WINDOW && end - g->last > g->fgap)
            g->fgap = end - g->last;
        /* A stall is the gap beyond the flow's own interval. */
        if (fault > 0 && !g->dead && g->fgap - interval > fault_outage + 1.0)
            fault_stalled++;
        if (!g->dead && g->gap - interval > outage + 1.0)
            stalled++;
        lost += g->sent - g->echoed;
        if (g->gap > max_gap)
            max_gap = g->gap;
    }
    /* Where the per-flow gaps lie: their median and 99th percentile, and the median moment
     * (seconds after the start) at which each flow's longest gap ended. */
    double *gaps = malloc((live ? live : 1) * sizeof *gaps), *ats = malloc((live ? live : 1) * sizeof *ats);
    for (int c = 0; c < live; c++) {
        gaps[c] = f[order[c]].gap;
        ats[c] = f[order[c]].gap_at - start;
    }
    double *fgaps = malloc((live ? live : 1) * sizeof *fgaps);
    for (int c = 0; c < live; c++)
        fgaps[c] = f[order[c]].fgap;
    qsort(fgaps, live, sizeof *fgaps, cmp_double);
    qsort(gaps, live, sizeof *gaps, cmp_double);
    qsort(ats, live, sizeof *ats, cmp_double);
    double gap50 = live ? gaps[live / 2] : 0, gap99 = live ? gaps[live * 99 / 100] : 0,
           at50 = live ? ats[live / 2] : 0;
    printf("{\"n\": %d, \"connected\": %d, \"reset\": %ld, \"stalled\": %ld, \"lost\": %ld, "
           "\"outage_ms\": %.0f, \"max_gap_ms\": %.0f, \"misordered\": %ld, \"outage_from\": %.3f, "
           "\"gap_p50_ms\": %.0f, \"gap_p99_ms\": %.0f, \"gap_at_p50_s\": %.2f, \"start\": %.3f, "
           "\"fault_s\": %.2f, \"fault_outage_ms\": %.0f, \"fault_stalled\": %ld, "
           "\"fault_gap_p50_ms\": %.0f, \"fault_gap_max_ms\": %.0f}\n",
           n, connected, reset, stalled, lost, outage * 1000, max_gap * 1000, misordered,
           outage_from + to_wall, gap50 * 1000, gap99 * 1000, at50, start + to_wall,
           fault > 0 ? fault - start : -1.0, fault_outage * 1000, fault_stalled,
           live ? fgaps[live / 2] * 1000 : 0, live ? fgaps[live - 1] * 1000 : 0);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "server"))
        return server(atoi(argv[2]));
    if (argc >= 6 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]),
                      argc > 6 ? atoi(argv[6]) : 100);
    fprintf(stderr, "usage: flows server PORT | flows client ADDR PORT N SECONDS [MS]\n");
    return 2;
}
