#!/usr/bin/env python3
"""The measuring half of bench/ldirectord (run.sh sets up the namespace and calls this inside
it). For each N and each daemon (habox's ldirectord, Debian's Perl one): RUNS starts; each
start gives a start-up sample and REACTS reaction samples, the first start also a WINDOW-second
steady-state window (cycle, CPU per check, RSS). Prints medians and ratios ours/Perl.

Where the numbers come from:
  start-up   exec of the daemon -> the IPVS table (record file / shim log, polled every 2 ms)
             holds all N reals for the first time.
  cycle      the real-server log: round k = the k-th request to each real since the exec;
             cycle = last - first request of a round, median over the rounds inside the
             window. "start-up round" = round 0: for ours all N checks are due at once, so
             it is how long N checks take; the Perl's round 0 includes its start-up ipvsadm
             calls. Ours runs every real on its own timer (period = checkinterval + that
             check's duration), so its rounds spread over the interval within a few rounds:
             its window "cycle" measures that spread, not work.
  CPU/check  utime+stime (+ reaped children) of the daemon over WINDOW / requests the server saw.
             /proc/PID/schedstat (ns) is printed alongside: clock ticks are 10 ms.
  RSS        VmRSS at the end of the window (fork=no: one process for both).
  reaction   the server starts answering 500 for one random real (its logged time) -> the
             delete of that real appears in the record file / shim log. Then the real is
             revived and the script waits for its re-add before the next sample.

Environment (set by run.sh): TMP HABOX PERL SHIM NS RUNS WINDOW REACTS SERVER_LOG SERVER_CTL.
"""

import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

TMP = os.environ["TMP"]
HABOX = os.environ["HABOX"]
PERL = os.environ["PERL"]
SHIM = os.environ["SHIM"]
NS = [int(n) for n in os.environ.get("NS", "10 100 1000").split()]
RUNS = int(os.environ.get("RUNS", "3"))
WINDOW = float(os.environ.get("WINDOW", "20"))
REACTS = int(os.environ.get("REACTS", "2"))
SERVER_LOG = os.environ["SERVER_LOG"]
SERVER_CTL = os.environ["SERVER_CTL"]
TAG = os.environ.get("TAG", "hbbench-%d" % os.getpid())
VIP = "198.51.100.10:80"
CHECKTIMEOUT, CHECKINTERVAL = 3, 1
HZ = os.sysconf("SC_CLK_TCK")
rng = random.Random(int(os.environ.get("SEED", "1")))


def log(msg):
    print(msg, flush=True)


def addresses(n):
    return ["127.1.%d.%d" % (i // 250, i % 250 + 1) for i in range(n)]


def write_config(path, n):
    reals = "".join("\treal=%s:80 gate\n" % a for a in addresses(n))
    # cleanstop=no: stopping is not measured, and the Perl's 1000 deletes would take seconds.
    text = ("checktimeout=%d\ncheckinterval=%d\nfork=no\nsupervised=yes\nquiescent=no\n"
            "cleanstop=no\nvirtual=%s\n%s\tservice=http\n\tchecktype=negotiate\n"
            "\trequest=\"/\"\n\treceive=\"real is OK\"\n\tscheduler=wrr\n\tprotocol=tcp\n"
            % (CHECKTIMEOUT, CHECKINTERVAL, VIP, reals))
    with open(path, "w") as f:
        f.write(text)


class Tail:
    """New lines of a file that is appended to."""

    def __init__(self, path):
        self.path, self.pos, self.rest = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        data = self.rest + data
        *full, self.rest = data.split(b"\n")
        return [x.decode() for x in full]


CHANGE = re.compile(r"(?:^|\s)(-[aed])\s.*-r\s+(\S+)")


def changes(lines):
    """(op, real) for each -a/-e/-d line of a record file or shim log."""
    out = []
    for line in lines:
        m = CHANGE.search(line)
        if m:
            out.append((m.group(1), m.group(2).rsplit(":", 1)[0]))
    return out


class Daemon:
    def __init__(self, impl, n, run):
        self.impl, self.n = impl, n
        self.cfg = os.path.join(TMP, "%s-%s-%d.cf" % (TAG, impl, n))
        write_config(self.cfg, n)
        env = dict(os.environ)
        if impl == "ours":
            self.changes_path = os.path.join(TMP, "ours.rec")
            open(self.changes_path, "w").close()
            env["LDIRECTORD_IPVS_RECORD"] = self.changes_path
            cmd = [HABOX, "ldirectord", self.cfg, "start"]
        else:
            shim_dir = os.path.join(TMP, "shim")
            os.makedirs(shim_dir, exist_ok=True)
            files = {
                "head.L": "IP Virtual Server version 1.2.1 (size=4096)\n"
                          "Prot LocalAddress:Port Scheduler Flags\n"
                          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
                "head.T": "IP Virtual Server version 1.2.1 (size=4096)\n"
                          "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n"
                          "  -> RemoteAddress:Port\n",
                "svc": "", "reals.L": "", "reals.T": "", "shim.log": "",
            }
            for name, text in files.items():
                with open(os.path.join(shim_dir, name), "w") as f:
                    f.write(text)
            self.changes_path = os.path.join(shim_dir, "shim.log")
            env["IPVSADM_SHIM_DIR"] = shim_dir
            env.pop("PERLIO", None)  # the Perl re-execs itself once to set it, as in production
            cmd = [PERL, self.cfg, "start"]
        self.out = open(os.path.join(TMP, "%s-%d-%d.log" % (impl, n, run)), "w")
        self.tail = Tail(self.changes_path)
        self.table = set()
        self.t_exec = time.time()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        with open(os.path.join(TMP, "pids"), "a") as f:
            f.write("%d\n" % self.proc.pid)

    def poll_changes(self):
        ch = changes(self.tail.lines())
        for op, real in ch:
            (self.table.discard if op == "-d" else self.table.add)(real)
        return ch

    def wait(self, what, cond, bound):
        """Polls the change file every 2 ms until cond(changes) holds; returns the time."""
        until = time.time() + bound
        while time.time() < until:
            ch = self.poll_changes()
            if cond(ch):
                return time.time()
            if self.proc.poll() is not None:
                raise RuntimeError("%s %s: exited (rc %s) while waiting for %s; see %s"
                                   % (self.impl, self.n, self.proc.returncode, what, self.out.name))
            time.sleep(0.002)
        raise RuntimeError("%s N=%d: no %s within %.0f s" % (self.impl, self.n, what, bound))

    def startup(self):
        bound = 30 + 0.2 * self.n  # the Perl needs ~44 s for 1000
        t = self.wait("start-up (all reals added)", lambda _: len(self.table) >= self.n, bound)
        return t - self.t_exec

    def cpu(self):
        """(utime+stime+cutime+cstime in s, schedstat run time in s) of the daemon."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(x) for x in fields[11:15])
        ns = 0
        for task in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (self.proc.pid, task)) as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass
        return ticks / HZ, ns / 1e9

    def status(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])  # kB
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()
        pid = "/var/run/ldirectord.%s.pid" % os.path.basename(self.cfg)
        if os.path.exists(pid):
            os.unlink(pid)


class Servers:
    """The control socket of realservers.py and its request log."""

    def __init__(self):
        self.path = os.path.join(TMP, "driver.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(5)

    def set(self, verb, addr):
        self.sock.sendto(("%s %s" % (verb, addr)).encode(), SERVER_CTL)
        return float(self.sock.recv(64))

    @staticmethod
    def requests(t_from, t_to):
        out = []
        with open(SERVER_LOG) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    t = float(parts[0])
                    if t_from <= t <= t_to:
                        out.append((t, parts[1]))
        return out


def host_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v)


def rounds(reqs, n, t0, t1):
    """Spans (s) of the rounds that lie wholly inside [t0, t1]. Both daemons check every real
    once per round (the Perl in config order, ours concurrently, all first due at start-up),
    so round k is the k-th request to each address since the daemon's exec; load stalls inside
    a round cannot split it as a cut at time gaps would."""
    by_round = {}
    seen = {}
    for t, addr in sorted(reqs):
        k = seen.get(addr, 0)
        seen[addr] = k + 1
        by_round.setdefault(k, []).append(t)
    spans = []
    for ts in by_round.values():
        if len(ts) == n and ts[0] >= t0 and ts[-1] <= t1:
            spans.append(ts[-1] - ts[0])
    first = by_round.get(0, [])
    return spans, (first[-1] - first[0] if len(first) == n else float("nan"))


def window(d, server_pid):
    time.sleep(2)  # past the first rounds after start-up
    busy0, total0 = host_busy()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    srv0 = server_cpu(server_pid)
    c0, s0 = d.cpu()
    t0 = time.time()
    time.sleep(WINDOW)
    c1, s1 = d.cpu()
    t1 = time.time()
    srv1 = server_cpu(server_pid)
    busy1, total1 = host_busy()
    rss, hwm = d.status("VmRSS"), d.status("VmHWM")
    time.sleep(0.2)  # the server flushes its log after every poll round
    reqs = Servers.requests(t0, t1)
    spans, first = rounds(Servers.requests(d.t_exec, t1), d.n, t0, t1)
    checks = len(reqs)
    return {
        "checks": checks,
        "checks_per_s": checks / (t1 - t0),
        "cpu_ms_per_check": 1000 * (c1 - c0) / checks if checks else float("nan"),
        "sched_ms_per_check": 1000 * (s1 - s0) / checks if checks else float("nan"),
        "cpu_pct": 100 * (c1 - c0) / (t1 - t0),
        "rss_kib": rss, "hwm_kib": hwm,
        "cycle_ms": 1000 * statistics.median(spans) if spans else float("nan"),
        "rounds": len(spans),
        "first_round_ms": 1000 * first,
        "cycle_max_ms": 1000 * max(spans) if spans else float("nan"),
        "server_pct": 100 * (srv1 - srv0) / (t1 - t0),
        "host_busy_pct": 100 * os.cpu_count() * (busy1 - busy0) / max(1, total1 - total0),
        "load": load,
    }


def server_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def reaction(d, servers):
    victim = rng.choice(addresses(d.n))
    time.sleep(rng.uniform(0, 1.5 * CHECKINTERVAL))  # a random phase of the check cycle
    d.poll_changes()
    t_dead = servers.set("dead", victim)
    t_del = d.wait("delete of " + victim,
                   lambda ch: ("-d", victim) in ch, 30)
    servers.set("alive", victim)
    d.wait("re-add of " + victim, lambda _: victim in d.table, 30)
    return t_del - t_dead


def measure(impl, n, servers, server_pid):
    res = {"startup": [], "reaction": []}
    for run in range(1, RUNS + 1):
        d = Daemon(impl, n, run)
        try:
            s = d.startup()
            res["startup"].append(s)
            log("  %-4s N=%-4d run %d: start-up %.3f s" % (impl, n, run, s))
            if run == 1:
                w = window(d, server_pid)
                res.update(w)
                log("  %-4s N=%-4d window %.0f s: %d checks (%.0f/s), %d complete rounds, "
                    "cycle %.1f ms (max %.1f, start-up round %.1f), CPU %.4f ms/check (schedstat %.4f), %.1f %% of a core, "
                    "VmRSS %d KiB (HWM %d), server %.0f %%, host busy %.0f %% of 200, load %s"
                    % (impl, n, WINDOW, w["checks"], w["checks_per_s"], w["rounds"],
                       w["cycle_ms"], w["cycle_max_ms"], w["first_round_ms"], w["cpu_ms_per_check"], w["sched_ms_per_check"],
                       w["cpu_pct"], w["rss_kib"], w["hwm_kib"], w["server_pct"],
                       w["host_busy_pct"], w["load"]))
            for _ in range(REACTS):
                r = reaction(d, servers)
                res["reaction"].append(r)
                log("  %-4s N=%-4d run %d: reaction %.3f s" % (impl, n, run, r))
        finally:
            d.stop()
    return res


def ratio(a, b):
    return "%.3f" % (a / b) if b else "-"


def main():
    servers = Servers()
    server_pid = int(os.environ["SERVER_PID"])
    results = {}
    for n in NS:
        for impl in ("ours", "perl"):
            results[(impl, n)] = measure(impl, n, servers, server_pid)
    med = statistics.median
    log("")
    log("checktype=negotiate service=http checkinterval=%d checktimeout=%d fork=no; RUNS=%d "
        "WINDOW=%.0f s REACTS=%d" % (CHECKINTERVAL, CHECKTIMEOUT, RUNS, WINDOW, REACTS))
    rows = [
        ("start-up s", lambda r: med(r["startup"]), "%.3f", "<= 1"),
        ("cycle ms (window)", lambda r: r["cycle_ms"], "%.1f", "<= 50"),
        ("start-up round ms", lambda r: r["first_round_ms"], "%.1f", "<= 50"),
        ("checks/s", lambda r: r["checks_per_s"], "%.0f", ""),
        ("CPU ms/check", lambda r: r["cpu_ms_per_check"], "%.4f", "<= 0.06"),
        ("  schedstat ms/check", lambda r: r["sched_ms_per_check"], "%.4f", "<= 0.06"),
        ("CPU % of a core", lambda r: r["cpu_pct"], "%.1f", ""),
        ("VmRSS MiB", lambda r: r["rss_kib"] / 1024, "%.2f", "<= 4"),
        ("VmHWM MiB (peak)", lambda r: r["hwm_kib"] / 1024, "%.2f", ""),
        ("reaction s (median)", lambda r: med(r["reaction"]), "%.3f",
         "<= %d" % (CHECKTIMEOUT + CHECKINTERVAL)),
        ("reaction s (max)", lambda r: max(r["reaction"]), "%.3f", ""),
    ]
    for n in NS:
        ours, perl = results[("ours", n)], results[("perl", n)]
        log("")
        log("N=%d  %-22s %12s %12s %10s %10s" % (n, "", "ours", "perl", "ours/perl", "goal"))
        for name, get, fmt, goal in rows:
            o, p = get(ours), get(perl)
            log("       %-22s %12s %12s %10s %10s" % (name, fmt % o, fmt % p, ratio(o, p),
                                                      goal))


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print("bench/ldirectord: %s" % e, file=sys.stderr)
        sys.exit(1)
