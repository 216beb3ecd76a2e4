#!/usr/bin/env python3
"""The VIP outage of one failover trial (bench/failover/run.sh).

Inputs: the client's capture (`tcpdump -e -tt -n -i lan0`, echo replies: time, source MAC,
seq), the LAN switch's capture (`tcpdump -tt -n -i any -Q in`, echo replies: ingress port, seq)
and the fault instant (CLOCK_REALTIME, taken by the script right before the kill or the link
change).

Outage = the longest gap with lost probes, from the last reply before the fault on, in the
replies the client got from the nodes that serve: after a SIGKILL of the master (EXPECT B-only)
only B's replies count, otherwise (EXPECT B: B must serve at the end; any: a worker kill) every
node's. The node is told by the switch port the reply entered on (the source MAC is printed as a
cross-check; pikemon answers ICMP from the parent's MAC, ARP from the virtual one). Replies
the old master's kernel still sends from addresses a killed daemon left behind ("stale") do not
end the outage: it ends when the new master serves. A gap in which no probe was lost (seq
numbers are consecutive) is only the capture's or the client's jitter and never counts; no such
gap at all is an outage of 0.

Prints `ok MS key=value...`, `fail REASON key=value...`, or `invalid MS key=value...` when the
client itself stalled (no echo request sent for more than 10 ms and a fifth of the outage,
around the fault): the machine, not the daemon, was busy; run.sh repeats such a trial.
"""
import re
import sys

# tcpdump prints ICMP as "ICMP echo reply, id N, seq N" and ICMPv6 as "ICMP6, echo reply, id
# N, seq N" (IP6 instead of IP before the addresses).
CLIENT = re.compile(r"^(\d+\.\d+) (\S+) > \S+, .*ICMP6?,? echo reply, id \d+, seq (\d+)")
REQUEST = re.compile(r"^(\d+\.\d+)\s+p-c\s+\S+\s+IP6? \S+ > \S+: ICMP6?,? echo request, id \d+, seq (\d+)")
SWITCH = re.compile(r"^(\d+\.\d+)\s+(\S+)\s+(?:In|P|B|M)\s+IP6? .*ICMP6?,? echo reply, id \d+, seq (\d+)")


def read(path, pattern):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = pattern.match(line)
            if m:
                out.append((float(m.group(1)), m.group(2), int(m.group(3))))
    return out


def first_log_after(path, t0, needle):
    """ms after t0 of the first line of a timestamped log containing needle, or None."""
    try:
        with open(path, errors="replace") as f:
            for line in f:
                ts, _, text = line.partition(" ")
                try:
                    t = float(ts)
                except ValueError:
                    continue
                if t >= t0 and needle in text:
                    return (t - t0) * 1000.0
    except OSError:
        pass
    return None


def main():
    args = sys.argv[1:]
    if len(args) < 6:
        sys.exit("usage: outage.py CLIENT SWITCH T_FAULT EXPECT(B-only|B|any) T_END PROBE_MS [LOG NEEDLE]...")
    client, switch, t_fault, expect, t_end, probe_ms = args[:6]
    t_fault, t_end, probe_ms = float(t_fault), float(t_end), float(probe_ms)
    notes = []
    rest = args[6:]
    while len(rest) >= 3:
        log, label, needle = rest[:3]
        rest = rest[3:]
        ms = first_log_after(log, t_fault, needle)
        notes.append("%s=%s" % (label, "-" if ms is None else "+%.1fms" % ms))

    port_of = {}
    for _, port, seq in read(switch, SWITCH):
        port_of.setdefault(seq, port)
    node_of_port = {"p-a": "A", "p-b": "B"}
    replies = []
    seen = set()
    for t, mac, seq in read(client, CLIENT):
        if seq in seen:  # a duplicate (the frame was flooded to both nodes): the first counts
            continue
        seen.add(seq)
        replies.append((t, node_of_port.get(port_of.get(seq), "?"), mac, seq))
    replies.sort()

    def done(status, value, extra):
        print(" ".join([status, value] + extra + notes))

    before = [r for r in replies if r[0] < t_fault]
    after = [r for r in replies if r[0] >= t_fault]
    if not before:
        return done("fail", "no-replies-before-fault", ["replies=%d" % len(replies)])
    if not after:
        return done("fail", "VIP-never-came-back", ["last-reply-before=%.1fms" % ((t_fault - before[-1][0]) * 1000)])
    final = after[-1][1]
    # After a SIGKILL of the master only the new master's replies are service (the dead
    # daemon's addresses stay behind); after a link cut, a stop or a worker kill the old
    # master's last replies are real service too.
    served = [r for r in after if expect != "B-only" or r[1] == "B"]
    stale = len(after) - len(served)
    macs = ",".join(sorted({r[2] for r in served}))
    info = ["final=%s" % final, "mac=%s" % macs, "stale=%d" % stale]
    if not served or (expect != "any" and final != "B"):
        return done("fail", "still-served-by-%s" % final, info)
    if t_end - after[-1][0] > 0.2:
        return done("fail", "VIP-lost-again", info + ["last-reply=+%.1fms" % ((after[-1][0] - t_fault) * 1000)])
    seq = [before[-1]] + served
    gap, lost, at, upto = 0.0, 0, 0.0, 0.0
    for a, b in zip(seq, seq[1:]):
        if b[3] - a[3] > 1 and b[0] - a[0] > gap:
            gap, lost, at, upto = b[0] - a[0], b[3] - a[3] - 1, a[0], b[0]
    outage = gap * 1000.0 if lost > 0 else 0.0
    # The client's own pauses (a stalled machine): the longest time without an echo request
    # sent, from 200 ms before the fault to the end of the outage.
    requests = sorted(float(m.group(1)) for m in map(REQUEST.match, open(switch, errors="replace")) if m)
    end = upto if lost > 0 else t_fault
    inside = [t for t in requests if t_fault - 0.2 <= t <= end + probe_ms / 1000.0]
    stall = max((b - a for a, b in zip(inside, inside[1:])), default=0.0)
    info += ["gap=%.1fms" % (gap * 1000), "lost=%d" % lost, "gap-from=%s" % ("%+.1fms" % ((at - t_fault) * 1000) if lost > 0 else "-"),
             "probe-stall=%.1fms" % (stall * 1000)]
    if stall > max(0.010, 0.2 * gap if lost > 0 else 0):
        return done("invalid", "%.1f" % outage, info)
    return done("ok", "%.1f" % outage, info)


if __name__ == "__main__":
    main()
