#!/usr/bin/env python3
"""Long-lived TCP flows for the state-sync benchmark and test.

server PORT [ADDR]
    Echoes every byte back, on as many connections as come.
client ADDR PORT N SECONDS [INTERVAL_MS]
    Opens N connections, then on each one sends an 9-byte numbered line every
    INTERVAL_MS (default 100) for SECONDS, checks that every echo carries the next
    number, drains for 3 s and prints one JSON line:
      {"n":N,"connected":C,"reset":R,"stalled":S,"lost":BYTES,"outage_ms":O,
       "max_gap_ms":G,"misordered":M}
    reset: connections that saw RST/EOF/an error; lost: bytes sent but never echoed
    (a reset or stalled connection keeps them); outage_ms: the longest time no echo
    arrived on any connection (the VIP outage as the clients saw it); stalled:
    connections whose own longest gap between echoes, less the line interval, exceeds
    outage_ms + 1000.
    Prints "ready" on its own line once every connection is established.
Bounded: the client stops after SECONDS; connections and messages are counted.
"""
import errno
import json
import selectors
import socket
import sys
import time

LINE = 9


def server(port, addr="0.0.0.0"):
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(8192)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(c, selectors.EVENT_READ, 1)
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
                continue
            try:
                c.sendall(data)
            except OSError:
                sel.unregister(c)
                c.close()


class Flow:
    __slots__ = ("sock", "sent", "echoed", "buf", "last", "gap", "dead", "up")

    def __init__(self, sock):
        self.sock = sock
        self.sent = 0
        self.echoed = 0
        self.buf = b""
        self.last = None
        self.gap = 0.0
        self.dead = False
        self.up = False


def client(addr, port, n, seconds, interval_ms=100):
    interval = interval_ms / 1000.0
    sel = selectors.DefaultSelector()
    flows = []
    # Connect in batches so the SYN queue never overflows.
    pending = 0
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = Flow(s)
        flows.append(f)
        err = s.connect_ex((addr, port))
        if err not in (0, errno.EINPROGRESS):
            f.dead = True
            continue
        sel.register(s, selectors.EVENT_WRITE, f)
        pending += 1
        if pending >= 200 or i == n - 1:
            end = time.monotonic() + 10
            while pending and time.monotonic() < end:
                for key, _ in sel.select(0.5):
                    g = key.data
                    sel.unregister(g.sock)
                    if g.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        g.dead = True
                    else:
                        g.up = True
                        sel.register(g.sock, selectors.EVENT_READ, g)
                    pending -= 1
            pending = 0
    connected = sum(1 for f in flows if f.up)
    print("ready", flush=True)
    start = time.monotonic()
    for f in flows:
        f.last = start
    last_any = start
    outage = 0.0
    misordered = 0
    live = [f for f in flows if f.up and not f.dead]
    # Spread the sends evenly over one interval.
    slots = [(start + interval * i / max(len(live), 1), f) for i, f in enumerate(live)]
    k = 0
    stop = start + seconds
    drain_end = stop + 3.0
    while True:
        now = time.monotonic()
        if now >= drain_end:
            break
        sending = now < stop
        timeout = 0.005
        for key, _ in sel.select(timeout):
            f = key.data
            try:
                data = f.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                f.dead = True
                sel.unregister(f.sock)
                continue
            f.buf += data
            t = time.monotonic()
            while len(f.buf) >= LINE:
                line, f.buf = f.buf[:LINE], f.buf[LINE:]
                want = b"%08d\n" % (f.echoed // LINE)
                if line != want:
                    misordered += 1
                f.echoed += LINE
            if t - f.last > f.gap:
                f.gap = t - f.last
            f.last = t
            if t - last_any > outage:
                outage = t - last_any
            last_any = t
        now = time.monotonic()
        if sending:
            while slots and slots[k][0] <= now:
                due, f = slots[k]
                if not f.dead:
                    try:
                        f.sock.send(b"%08d\n" % (f.sent // LINE))
                        f.sent += LINE
                    except BlockingIOError:
                        pass
                    except OSError:
                        f.dead = True
                slots[k] = (due + interval, f)
                k = (k + 1) % len(slots)
        elif all(f.echoed == f.sent for f in live if not f.dead):
            break
    end = time.monotonic()
    for f in live:
        # A connection still silent at the end has its last gap running.
        if f.echoed < f.sent and end - f.last > f.gap:
            f.gap = end - f.last
    reset = sum(1 for f in flows if f.dead)
    stalled = sum(1 for f in live if not f.dead and f.gap - interval > outage + 1.0)
    lost = sum(f.sent - f.echoed for f in live)
    print(json.dumps({
        "n": n, "connected": connected, "reset": reset, "stalled": stalled,
        "lost": lost, "outage_ms": round(outage * 1000),
        "max_gap_ms": round(max((f.gap for f in live), default=0) * 1000),
        "misordered": misordered,
    }), flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "server":
        server(int(a[1]), a[2] if len(a) > 2 else "0.0.0.0")
    elif a and a[0] == "client":
        client(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]) if len(a) > 5 else 100)
    else:
        sys.exit(__doc__)
