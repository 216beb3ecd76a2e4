# Sends `payload` (hex) as UDP datagrams from SRC:SPORT (a forged source: a raw socket with
# our own IP header) to every port of DST in LO..HI, round after round, for SECS seconds at
# most. A stranger on the LAN who answers for a real server without seeing its traffic.
# Used by tests/ldirectord_services.rs inside a test's own network namespace only.
import socket
import struct
import sys
import time

src, sport, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lo, hi, secs = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
payload = bytes.fromhex(sys.argv[7])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
ip_src, ip_dst = socket.inet_aton(src), socket.inet_aton(dst)
end = time.time() + secs
sent = 0
while time.time() < end:
    for port in range(lo, hi + 1):
        udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ip_src, ip_dst)
        s.sendto(ip + udp, (dst, 0))
        sent += 1
        if sent % 4096 == 0 and time.time() >= end:
            break
print(sent, flush=True)
