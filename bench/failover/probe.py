#!/usr/bin/env python3
"""probe.py DST INTERVAL_MS COUNT MAX_SECONDS: ICMP (ICMPv6 for an IPv6 DST) echo requests to DST
on a fixed schedule.

The client of bench/failover/run.sh. Unlike iputils ping it never slows down: ping backs off
for 10 ms (its minimum scheduling interval) after a failed send, which at 10 ms hellos is as
long as the outage being measured. Replies are not read here (the captures time them); send
errors are counted and printed at the end. Bounded by COUNT and MAX_SECONDS.
"""
import os
import socket
import struct
import sys
import time


def checksum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    dst, interval, count, limit = sys.argv[1], float(sys.argv[2]) / 1000, int(sys.argv[3]), float(sys.argv[4])
    ident = os.getpid() & 0xFFFF
    v6 = ":" in dst
    if v6:  # the kernel fills the ICMPv6 checksum (RFC 3542)
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # replies are not read
    s.setblocking(False)
    payload = b"bench-failover".ljust(56, b".")
    start = time.monotonic()
    errors = 0
    for seq in range(1, count + 1):
        due = start + (seq - 1) * interval
        now = time.monotonic()
        if now - start > limit:
            break
        if due > now:
            time.sleep(due - now)
        if v6:
            head = struct.pack("!BBHHH", 128, 0, 0, ident, seq & 0xFFFF)
        else:
            head = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
            head = struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq & 0xFFFF)
        try:
            s.sendto(head + payload, (dst, 0))
        except OSError:
            errors += 1
    print("sent %d, send errors %d" % (seq, errors))


if __name__ == "__main__":
    main()
