# Sends forged packets from SRC:SPORT to every port of DST in LO..HI, round after round, for
# SECS seconds at most (a raw socket with our own IP header): a stranger on the LAN who
# answers for a real server without seeing its traffic. MODE `udp`: the datagram PAYLOAD
# (hex) from SRC:SPORT to DST:port. MODE `icmp`: an ICMP port unreachable from SRC quoting
# a datagram DST:port -> SRC:SPORT, as the real's kernel would send for a closed port.
# MODE `echo`: ICMP echo replies from SRC to DST with identifier port (LO..HI), sequence
# number SPORT and PAYLOAD as their data, as a dead real's forger would send.
# Used by tests/ldirectord_services.rs inside a test's own network namespace only.
import socket
import struct
import sys
import time

mode, src, sport, dst = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lo, hi, secs = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
payload = bytes.fromhex(sys.argv[8]) if len(sys.argv) > 8 else b""
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
ip_src, ip_dst = socket.inet_aton(src), socket.inet_aton(dst)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(proto, length, a, b):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0, 64, proto, 0, a, b)


def packet(port):
    if mode == "udp":
        udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
        return ip_header(17, 20 + len(udp), ip_src, ip_dst) + udp
    if mode == "echo":
        icmp = struct.pack("!BBHHH", 0, 0, 0, port, sport) + payload
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        return ip_header(1, 20 + len(icmp), ip_src, ip_dst) + icmp
    # The datagram the real would refuse: from DST:port to SRC:SPORT.
    inner_udp = struct.pack("!HHHH", port, sport, 8 + 20, 0)
    inner = ip_header(17, 20 + 8 + 20, ip_dst, ip_src)
    inner = inner[:10] + struct.pack("!H", checksum(inner)) + inner[12:]
    body = inner + inner_udp
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + body
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    return ip_header(1, 20 + len(icmp), ip_src, ip_dst) + icmp


end = time.time() + secs
sent = 0
while time.time() < end:
    for port in range(lo, hi + 1):
        s.sendto(packet(port), (dst, 0))
        sent += 1
        if sent % 4096 == 0 and time.time() >= end:
            break
print(sent, flush=True)
