#!/usr/bin/env python3
"""The real servers of bench/ldirectord: ONE process answering HTTP on 0.0.0.0:PORT, i.e. on
every 127.x address of the (private) namespace loopback.

Every request is logged as `<unix time> <local address>` to LOG (which address a check was
for = getsockname()). An address can be made to fail: a datagram `dead ADDR` on the control
socket CTL makes every later request to ADDR get `500`, `alive ADDR` undoes it; the server
answers the sender with the time the change took effect and logs `<time> DEAD|ALIVE ADDR`.

`dribble ADDR` makes ADDR a hostile server: its answer (a 200 head announcing a 10 MB body)
goes out one byte per segment every 10 ms, until the client closes or 60 s have passed;
`steady ADDR` undoes it. `stats -` answers the number of bytes dribbled so far.

    realservers.py PORT LOG CTL
"""

import os
import selectors
import socket
import sys
import time

OK = (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 24\r\n\r\n"
      b"habox bench: real is OK\n")
FAIL = b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
DRIBBLE_HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10000000\r\n\r\n"
DRIBBLE_EVERY = 0.010
DRIBBLE_MAX_S = 60.0


def main():
    port, log_path, ctl_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    log = open(log_path, "a", buffering=1 << 16)
    sel = selectors.DefaultSelector()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, "listen")

    try:
        os.unlink(ctl_path)
    except FileNotFoundError:
        pass
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctl.bind(ctl_path)
    ctl.setblocking(False)
    sel.register(ctl, selectors.EVENT_READ, "ctl")

    dead = set()
    dribble = set()
    bufs = {}
    dribbling = {}  # conn -> [bytes sent, start time]
    dribbled = 0
    next_drip = time.time()

    def close(conn):
        sel.unregister(conn)
        bufs.pop(conn, None)
        dribbling.pop(conn, None)
        conn.close()

    while True:  # until SIGTERM (default action)
        now = time.time()
        if dribbling and now >= next_drip:
            next_drip = now + DRIBBLE_EVERY
            for conn, state in list(dribbling.items()):
                sent, since = state
                byte = DRIBBLE_HEAD[sent:sent + 1] or b"d"
                try:
                    if now - since > DRIBBLE_MAX_S or conn.send(byte) != 1:
                        close(conn)
                        continue
                except OSError:
                    close(conn)
                    continue
                state[0] += 1
                dribbled += 1
        timeout = max(0.0, next_drip - time.time()) if dribbling else 1.0
        try:
            events = sel.select(timeout)
        except InterruptedError:
            continue
        for key, _ in events:
            if key.data == "listen":
                while True:
                    try:
                        conn, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    conn.setblocking(False)
                    bufs[conn] = b""
                    sel.register(conn, selectors.EVENT_READ, "conn")
            elif key.data == "ctl":
                try:
                    msg, peer = ctl.recvfrom(512)
                except BlockingIOError:
                    continue
                verb, addr = msg.decode().split()
                if verb == "stats":
                    if peer:
                        ctl.sendto(b"%d" % dribbled, peer)
                    continue
                if verb in ("dead", "alive"):
                    (dead.add if verb == "dead" else dead.discard)(addr)
                else:
                    (dribble.add if verb == "dribble" else dribble.discard)(addr)
                now = time.time()
                log.write("%.6f %s %s\n" % (now, verb.upper(), addr))
                log.flush()
                if peer:
                    try:
                        ctl.sendto(b"%.6f" % now, peer)
                    except OSError:
                        pass
            else:
                conn = key.fileobj
                try:
                    data = conn.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    close(conn)
                    continue
                if not data:
                    close(conn)
                    continue
                if conn in dribbling:
                    continue
                buf = bufs[conn] + data
                if b"\r\n\r\n" not in buf:
                    bufs[conn] = buf
                    continue
                addr = conn.getsockname()[0]
                log.write("%.6f %s\n" % (time.time(), addr))
                if addr in dribble:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    dribbling[conn] = [0, time.time()]
                    continue
                try:
                    conn.send(FAIL if addr in dead else OK)
                except OSError:
                    pass
                close(conn)
        log.flush()


if __name__ == "__main__":
    main()
