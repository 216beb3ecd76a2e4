#!/usr/bin/env python3
"""Writes the trafgen packet config of one flood (bench/flood/run.sh).

    frames.py KIND SRC-MAC [ARGS...] > flood.cfg

KIND:
  pike-garbage                 EtherType 0x88B5 to the PIKE group MAC, 90 random bytes (the
                               length of a one-cluster HELLO), new bytes for every frame
  pike-forged PCAP             the first HELLO of node 1 in PCAP (a tcpdump capture), its source
                               MAC replaced by SRC-MAC and the last byte of its HMAC flipped:
                               right cluster-id, node-id and key-id, wrong HMAC
  vrrp-garbage SRC-IP          IPv4 proto 112 to 224.0.0.18 (TTL 255, a valid IP header), 20
                               random bytes of payload, new for every frame
  vrrp-forged SRC-IP VRID PRIO CENTISECONDS VIP
                               a VRRPv3 advertisement of that router, its checksum wrong

The source MAC is always the attacker's own: a flood with a node's MAC would move that MAC to
the attacker's bridge port and cut the node off, which is another attack.
"""
import struct
import sys


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_header(src, payload_len):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + payload_len, 0, 0x4000, 255, 112, 0,
                    ip4(src), ip4("224.0.0.18"))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def pcap_frames(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def trafgen(parts):
    """parts: bytes or trafgen function strings, in order."""
    out = []
    for p in parts:
        if isinstance(p, bytes):
            out.append(", ".join("0x%02x" % b for b in p))
        else:
            out.append(p)
    return "{ " + ", ".join(out) + " }\n"


def main():
    kind, src = sys.argv[1], mac(sys.argv[2])
    args = sys.argv[3:]
    if kind == "pike-garbage":
        frame = [mac("03:50:49:4b:45:00") + src + b"\x88\xb5", "drnd(90)"]
    elif kind == "pike-forged":
        for f in pcap_frames(args[0]):
            # Ethernet 14, then "PIKE", version, type 1 = HELLO ..., node-id at payload 12..16
            if len(f) > 14 + 52 and f[12:14] == b"\x88\xb5" and f[14 + 5] == 1 and \
                    struct.unpack("!I", f[14 + 12:14 + 16])[0] == 1:
                body = bytearray(f[:6] + src + f[12:])
                body[-1] ^= 0xFF
                frame = [bytes(body)]
                break
        else:
            sys.exit("frames.py: no HELLO of node 1 in " + args[0])
    elif kind == "vrrp-garbage":
        frame = [mac("01:00:5e:00:00:12") + src + b"\x08\x00" + ipv4_header(args[0], 20), "drnd(20)"]
    elif kind == "vrrp-forged":
        vrid, prio, cs, vip = int(args[1]), int(args[2]), int(args[3]), ip4(args[4])
        advert = struct.pack("!BBBBHH4s", 0x31, vrid, prio, 1, cs & 0x0FFF, 0, vip)
        # The right checksum covers a pseudo-header; any other value is wrong, this one always.
        pseudo = ip4(args[0]) + ip4("224.0.0.18") + struct.pack("!BBH", 0, 112, len(advert))
        good = csum(pseudo + advert)
        advert = advert[:6] + struct.pack("!H", good ^ 0x5A5A) + advert[8:]
        frame = [mac("01:00:5e:00:00:12") + src + b"\x08\x00" + ipv4_header(args[0], len(advert)) + advert]
    else:
        sys.exit("frames.py: unknown kind " + kind)
    sys.stdout.write(trafgen(frame))


if __name__ == "__main__":
    main()
