"""Answers ICMP(v6) echo requests itself, with the request's identifier and sequence number
but altered data: a corrupting middlebox, or a forger who guessed the identifier. Run where
the kernel's own echo reply is off (net.ipv4.icmp_echo_ignore_all=1 /
net.ipv6.icmp.echo_ignore_all=1).

usage: corrupt_echo.py 4|6 MAX_REPLIES SECONDS INDEX=VALUE...
  INDEX is a data byte (0 = the first after the ICMP header), VALUE its new value (0x.. or
  decimal). Exits after MAX_REPLIES replies or SECONDS, whichever comes first. Prints
  "ready" once the socket is open.
"""
import select
import socket
import struct
import sys
import time

family, max_replies, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
changes = [(int(i), int(v, 0)) for i, v in (a.split("=") for a in sys.argv[4:])]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


if family == "4":
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    request, reply = 8, 0
else:
    # The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket (RFC 3542 3.1).
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    request, reply = 128, 129
print("ready", flush=True)

end = time.monotonic() + seconds
sent = 0
while sent < max_replies and time.monotonic() < end:
    r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
    if not r:
        break
    pkt, src = s.recvfrom(65535)
    if family == "4":
        pkt = pkt[(pkt[0] & 0x0F) * 4:]
    if len(pkt) < 8 or pkt[0] != request:
        continue
    ident_seq, data = pkt[4:8], bytearray(pkt[8:])
    for i, v in changes:
        if i < len(data):
            data[i] = v
    head = bytes([reply, 0]) + b"\0\0" + ident_seq
    body = head + bytes(data)
    if family == "4":
        body = head[:2] + struct.pack("!H", csum(body)) + head[4:] + bytes(data)
    s.sendto(body, src)
    sent += 1
