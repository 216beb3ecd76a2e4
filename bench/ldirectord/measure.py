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

  dribblers  with DRIBBLE="0 0.1", each N is also run with that fraction of its reals
             dribbling (realservers.py `dribble`: a 200 head announcing 10 MB, one byte per
             segment every 10 ms until the check gives up at checktimeout). Start-up, cycle,
             CPU/check and reaction are then those of the other reals: the CPU of the whole
             daemon over the window / requests to the other reals; the reaction's victim is one
             of them.

Environment (set by run.sh): TMP HABOX PERL SHIM NS RUNS WINDOW REACTS SERVER_LOG SERVER_CTL;
optional DRIBBLE (fractions, default "0"), IMPLS (default "ours perl"), PERL_RUNS and
PERL_REACTS (default RUNS and REACTS), PERL_STARTUP_MAX (s: a Perl start-up still unfinished then is reported as "added K of
N reals in that time", and its window and reactions are skipped).
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
DRIBBLE = [float(f) for f in os.environ.get("DRIBBLE", "0").split()]
IMPLS = os.environ.get("IMPLS", "ours perl").split()
PERL_RUNS = int(os.environ.get("PERL_RUNS", str(RUNS)))
PERL_REACTS = int(os.environ.get("PERL_REACTS", str(REACTS)))
PERL_STARTUP_MAX = float(os.environ.get("PERL_STARTUP_MAX", "0")) or None
TAG = os.environ.get("TAG", "hbbench-%d" % os.getpid())
# PIN="D S" (run.sh): the daemon runs on CPU D only (its children too), the servers on S.
PIN_DAEMON = int(os.environ["PIN"].split()[0]) if os.environ.get("PIN") else None
VIP = "198.51.100.10:80"
CHECKTIMEOUT, CHECKINTERVAL = 3, 1
HZ = os.sysconf("SC_CLK_TCK")
rng = random.Random(int(os.environ.get("SEED", "1")))


def log(msg):
    print(msg, flush=True)


def addresses(n):
    return ["127.1.%d.%d" % (i // 250, i % 250 + 1) for i in range(n)]


def dribblers(n, fraction):
    """Every (1/fraction)-th real, spread over the config order."""
    if fraction <= 0:
        return []
    k = max(1, round(1 / fraction))
    return [a for i, a in enumerate(addresses(n)) if i % k == k // 2]


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
    def __init__(self, impl, n, run, hostile=()):
        self.impl, self.n = impl, n
        self.hostile = set(hostile)
        self.healthy = [a for a in addresses(n) if a not in self.hostile]
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
        self.out = open(os.path.join(TMP, "%s-%d-%d-%d.log" % (impl, n, len(hostile), run)), "w")
        self.tail = Tail(self.changes_path)
        self.table = set()
        self.t_exec = time.time()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if PIN_DAEMON is not None:
            os.sched_setaffinity(self.proc.pid, {PIN_DAEMON})
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

    def slack(self):
        """Extra wait for a sequential sweep that sits out checktimeout on each dribbler."""
        return 1.5 * CHECKTIMEOUT * len(self.hostile) if self.impl == "perl" else 0

    def startup(self):
        """Start-up time, or None when PERL_STARTUP_MAX ran out (then self.partial says how
        far the Perl got)."""
        bound = 30 + 0.2 * self.n + self.slack()  # the Perl needs ~44 s for 1000
        healthy = set(self.healthy)
        if self.impl == "perl" and PERL_STARTUP_MAX:
            bound = min(bound, PERL_STARTUP_MAX)
            try:
                t = self.wait("start-up", lambda _: healthy <= self.table, bound)
            except RuntimeError:
                self.partial = (len(self.table & healthy), time.time() - self.t_exec)
                return None
        else:
            t = self.wait("start-up (all reals added)", lambda _: healthy <= self.table, bound)
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

    def wakeups(self):
        """Voluntary context switches of the daemon: each is a poll(2) that slept, so a
        wake-up of its loop. A count, not a time: load on the host does not change it."""
        n = 0
        for task in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                with open("/proc/%d/task/%s/status" % (self.proc.pid, task)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            n += int(line.split()[1])
            except OSError:
                pass
        return n

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

    def dribbled(self):
        """Bytes the dribbling reals have sent so far."""
        return self.set("stats", "-")

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


def window(d, server_pid, servers):
    time.sleep(2 + (CHECKTIMEOUT if d.hostile else 0))  # past the first rounds after start-up
    drib0 = servers.dribbled()
    busy0, total0 = host_busy()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    srv0 = server_cpu(server_pid)
    c0, s0 = d.cpu()
    w0 = d.wakeups()
    t0 = time.time()
    time.sleep(WINDOW)
    c1, s1 = d.cpu()
    w1 = d.wakeups()
    t1 = time.time()
    drib1 = servers.dribbled()
    srv1 = server_cpu(server_pid)
    busy1, total1 = host_busy()
    rss, hwm = d.status("VmRSS"), d.status("VmHWM")
    time.sleep(0.2)  # the server flushes its log after every poll round
    healthy = set(d.healthy)
    reqs = [r for r in Servers.requests(t0, t1) if r[1] in healthy]
    spans, first = rounds([r for r in Servers.requests(d.t_exec, t1) if r[1] in healthy],
                          len(healthy), t0, t1)
    checks = len(reqs)
    return {
        "checks": checks,
        "checks_per_s": checks / (t1 - t0),
        "cpu_ms_per_check": 1000 * (c1 - c0) / checks if checks else float("nan"),
        "sched_ms_per_check": 1000 * (s1 - s0) / checks if checks else float("nan"),
        "cpu_pct": 100 * (c1 - c0) / (t1 - t0),
        "wakeups_per_s": (w1 - w0) / (t1 - t0),
        "rss_kib": rss, "hwm_kib": hwm,
        "cycle_ms": 1000 * statistics.median(spans) if spans else float("nan"),
        "rounds": len(spans),
        "first_round_ms": 1000 * first,
        "cycle_max_ms": 1000 * max(spans) if spans else float("nan"),
        "server_pct": 100 * (srv1 - srv0) / (t1 - t0),
        "host_busy_pct": 100 * os.cpu_count() * (busy1 - busy0) / max(1, total1 - total0),
        "dribbled_per_s": (drib1 - drib0) / (t1 - t0),
        "load": load,
    }


def server_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def reaction(d, servers):
    victim = rng.choice(d.healthy)
    time.sleep(rng.uniform(0, 1.5 * CHECKINTERVAL))  # a random phase of the check cycle
    d.poll_changes()
    t_dead = servers.set("dead", victim)
    t_del = d.wait("delete of " + victim,
                   lambda ch: ("-d", victim) in ch, 30 + 2 * d.slack())
    servers.set("alive", victim)
    d.wait("re-add of " + victim, lambda _: victim in d.table, 30 + 2 * d.slack())
    return t_del - t_dead


def measure(impl, n, fraction, servers, server_pid):
    res = {"startup": [], "reaction": []}
    hostile = dribblers(n, fraction)
    label = "%s%s" % (impl, "+%d%%drib" % round(100 * fraction) if hostile else "")
    for a in hostile:
        servers.set("dribble", a)
    try:
        for run in range(1, (PERL_RUNS if impl == "perl" else RUNS) + 1):
            d = Daemon(impl, n, run, hostile)
            try:
                s = d.startup()
                if s is None:
                    k, t = d.partial
                    res["partial"] = d.partial
                    log("  %-14s N=%-5d run %d: start-up NOT finished: %d of %d reals added "
                        "in %.0f s" % (label, n, run, k, len(d.healthy), t))
                    break
                res["startup"].append(s)
                log("  %-14s N=%-5d run %d: start-up %.3f s" % (label, n, run, s))
                if run == 1:
                    w = window(d, server_pid, servers)
                    res.update(w)
                    log("  %-14s N=%-5d window %.0f s: %d checks of the %d other reals "
                        "(%.0f/s), %d complete rounds, cycle %.1f ms (max %.1f, start-up "
                        "round %.1f), CPU %.4f ms/check (schedstat %.4f), %.1f %% of a core, "
                        "VmRSS %d KiB (HWM %d), dribbled %.0f B/s, server %.0f %%, host busy "
                        "%.0f %% of 200, load %s"
                        % (label, n, WINDOW, w["checks"], len(d.healthy), w["checks_per_s"],
                           w["rounds"], w["cycle_ms"], w["cycle_max_ms"], w["first_round_ms"],
                           w["cpu_ms_per_check"], w["sched_ms_per_check"], w["cpu_pct"],
                           w["rss_kib"], w["hwm_kib"], w["dribbled_per_s"], w["server_pct"],
                           w["host_busy_pct"], w["load"]))
                for _ in range(PERL_REACTS if impl == "perl" else REACTS):
                    r = reaction(d, servers)
                    res["reaction"].append(r)
                    log("  %-14s N=%-5d run %d: reaction %.3f s" % (label, n, run, r))
            finally:
                d.stop()
    finally:
        for a in hostile:
            servers.set("steady", a)
    return res


def ratio(a, b):
    return "%.3f" % (a / b) if b else "-"


def main():
    servers = Servers()
    server_pid = int(os.environ["SERVER_PID"])
    results = {}
    for n in NS:
        for f in DRIBBLE:
            for impl in IMPLS:
                results[(impl, n, f)] = measure(impl, n, f, servers, server_pid)
    med = statistics.median
    nan = float("nan")

    def get(fn):
        def g(r):
            try:
                return fn(r)
            except (KeyError, ValueError, IndexError):
                return nan
        return g

    log("")
    log("checktype=negotiate service=http checkinterval=%d checktimeout=%d fork=no; RUNS=%d "
        "WINDOW=%.0f s REACTS=%d" % (CHECKINTERVAL, CHECKTIMEOUT, RUNS, WINDOW, REACTS))
    rows = [
        ("start-up s", get(lambda r: med(r["startup"])), "%.3f", "<= 1"),
        ("cycle ms (window)", get(lambda r: r["cycle_ms"]), "%.1f", "<= 50"),
        ("start-up round ms", get(lambda r: r["first_round_ms"]), "%.1f", "<= 50"),
        ("checks/s", get(lambda r: r["checks_per_s"]), "%.0f", ""),
        ("CPU ms/check", get(lambda r: r["cpu_ms_per_check"]), "%.4f", "<= 0.035"),
        ("  schedstat ms/check", get(lambda r: r["sched_ms_per_check"]), "%.4f", "<= 0.035"),
        ("CPU % of a core", get(lambda r: r["cpu_pct"]), "%.1f", ""),
        ("wake-ups/s", get(lambda r: r["wakeups_per_s"]), "%.0f", ""),
        ("VmRSS MiB", get(lambda r: r["rss_kib"] / 1024), "%.2f", "<= 8"),
        ("VmHWM MiB (peak)", get(lambda r: r["hwm_kib"] / 1024), "%.2f", ""),
        ("reaction s (median)", get(lambda r: med(r["reaction"])), "%.3f",
         "<= %d" % CHECKINTERVAL),
        ("reaction s (max)", get(lambda r: max(r["reaction"])), "%.3f", ""),
        ("dribbled bytes/s", get(lambda r: r["dribbled_per_s"]), "%.0f", ""),
    ]
    for n in NS:
        cols = [(impl, f) for f in DRIBBLE for impl in IMPLS]
        names = ["%s%s" % (i, "+%d%%drib" % round(100 * f) if f else "") for i, f in cols]
        ratios = []
        if "ours" in IMPLS and "perl" in IMPLS:
            ratios += [("ours/perl" + ("+%d%%" % round(100 * f) if f else ""), ("ours", f),
                        ("perl", f)) for f in DRIBBLE]
        if 0 in DRIBBLE:
            ratios += [("%s %d%%/0" % (i, round(100 * f)), (i, f), (i, 0.0))
                       for i in IMPLS for f in DRIBBLE if f]
        log("")
        log("N=%-6d %-22s " % (n, "") + " ".join("%13s" % x for x in names)
            + " " + " ".join("%13s" % r[0] for r in ratios) + " %10s" % "goal (ours)")
        for name, g, fmt, goal in rows:
            vals = [g(results[(i, n, f)]) for i, f in cols]
            rs = []
            for _, a, b in ratios:
                x, y = g(results[(a[0], n, a[1])]), g(results[(b[0], n, b[1])])
                rs.append(ratio(x, y) if x == x and y == y else "-")
            log("       %-22s " % name + " ".join("%13s" % (fmt % v) for v in vals)
                + " " + " ".join("%13s" % r for r in rs) + " %10s" % goal)
        for (i, f), nm in zip(cols, names):
            p = results[(i, n, f)].get("partial")
            if p:
                log("       %s: start-up not finished, %d of %d reals added in %.0f s"
                    % (nm, p[0], n - len(dribblers(n, f)), p[1]))


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print("bench/ldirectord: %s" % e, file=sys.stderr)
        sys.exit(1)
