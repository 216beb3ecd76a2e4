#!/usr/bin/env python3
"""bench/failover-qemu/timeline.py DIR...: where a machine death's outage went, from the LAN
bridge's captures that `CAPTURE=DIR bench/failover-qemu/run.sh` writes (DAEMON-HELLO-SCENARIO-
TIME.pcap). Medians over the trials of each daemon and hello, every trial's value after them,
in ms:

  outage          the longest gap between the client's echo replies (what run.sh prints)
  phase           the dead master's last HELLO on the LAN (a PIKE frame from the virtual MAC)
                  to its last echo reply: where in the hello schedule it died
  hello->probe    that last HELLO to the new master's first ARP probe for the VIP
  probe->vmac     the last probe request to the new master's first frame from the virtual MAC
  hello->vmac     the dead master's last HELLO to that frame
  vmac->reply     that frame to the client's first echo reply

keepalived sends no HELLO on the LAN and owns no virtual MAC: its rows come from the heart-beat
bridge's capture beside each trial's (hb-NAME.pcap), with its VRRP adverts:

  phase           the dead master's last advert to its last echo reply
  advert->garp    that advert to the new master's first gratuitous ARP for the VIP
  garp->reply     that ARP to the client's first echo reply

Reads pcap files with Ethernet frames, nothing else.
"""
import glob
import statistics
import struct
import sys

LAN_VIP = bytes([198, 51, 100, 1])
ARP, IPV4, PIKE = b"\x08\x06", b"\x08\x00", b"\x88\xb5"
VRRP = 112


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    nano = struct.unpack("<I", data[:4])[0] == 0xA1B23C4D
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        yield sec + frac / (1e9 if nano else 1e6), data[off:off + caplen]
        off += caplen


def keepalived_trial(path):
    fs = list(frames(path))
    replies = [t for t, f in fs if f[12:14] == IPV4 and f[23] == 1 and f[26:30] == LAN_VIP
               and f[34] == 0]
    hb = path.rsplit("/", 1)
    hb = f"{hb[0]}/hb-{hb[1]}"
    try:
        adverts = [t for t, f in frames(hb) if f[12:14] == IPV4 and f[23] == VRRP]
    except OSError:
        return None
    if len(replies) < 2:
        return None
    gap, last_reply, first_reply = max(
        (b - a, a, b) for a, b in zip(replies, replies[1:]))
    last_advert = max([t for t in adverts if t < last_reply + 0.001], default=None)
    garp = min([t for t, f in fs if f[12:14] == ARP and f[28:32] == LAN_VIP
                and f[38:42] == LAN_VIP and t > last_reply], default=None)
    if last_advert is None or garp is None:
        return None
    ms = lambda a, b: (b - a) * 1000
    return {
        "outage": gap * 1000,
        "phase": ms(last_advert, last_reply),
        "advert->garp": ms(last_advert, garp),
        "garp->reply": ms(garp, first_reply),
    }


def trial(path):
    if path.split("/")[-1].startswith("keepalived-"):
        return keepalived_trial(path)
    fs = list(frames(path))
    # The virtual MAC: the sender of a gratuitous ARP or an ARP reply for the VIP.
    vmac = next((f[6:12] for _, f in fs if f[12:14] == ARP and f[28:32] == LAN_VIP
                 and (f[20:22] == b"\x00\x02" or f[38:42] == LAN_VIP)), None)
    replies = [t for t, f in fs if f[12:14] == IPV4 and f[23] == 1 and f[26:30] == LAN_VIP
               and f[34] == 0]
    if vmac is None or len(replies) < 2:
        return None
    gap, last_reply, first_reply = max(
        (b - a, a, b) for a, b in zip(replies, replies[1:]))
    from_vmac = [t for t, f in fs if f[6:12] == vmac]
    # HELLOs only: the Master's macvlan also sends MLD reports from the virtual MAC.
    hellos = [t for t, f in fs if f[6:12] == vmac and f[12:14] == PIKE]
    last_hello = max([t for t in hellos if t < first_reply - 0.05], default=None)
    if last_hello is None:
        return None
    # After the dead master's last echo reply: before it, the dying master's own MLD reports.
    first_vmac = min([t for t in from_vmac if t > max(last_hello, last_reply)], default=None)
    if first_vmac is None:
        return None
    probes = [t for t, f in fs if f[12:14] == ARP and f[28:32] == bytes(4)
              and f[38:42] == LAN_VIP and last_hello < t < first_vmac]
    ms = lambda a, b: (b - a) * 1000
    return {
        "outage": gap * 1000,
        "phase": ms(last_hello, last_reply),
        "hello->probe": ms(last_hello, probes[0]) if probes else None,
        "probe->vmac": ms(probes[-1], first_vmac) if probes else None,
        "hello->vmac": ms(last_hello, first_vmac),
        "vmac->reply": ms(first_vmac, first_reply),
    }


def main():
    for d in sys.argv[1:]:
        groups = sorted({tuple(p.split("/")[-1].split("-")[:2])
                         for p in glob.glob(f"{d}/*-*-*-*.pcap")
                         if not p.split("/")[-1].startswith("hb-")})
        for daemon, hello in groups:
            paths = sorted(glob.glob(f"{d}/{daemon}-{hello}-*.pcap"))
            rows = [r for r in map(trial, paths) if r]
            if not rows:
                continue
            print(f"{d}: {daemon}, {hello} ms hellos, {len(rows)} trials")
            for key in rows[0]:
                vals = [r[key] for r in rows if r[key] is not None]
                if vals:
                    print(f"  {key:13s} {statistics.median(vals):7.1f}   "
                          + " ".join(f"{v:.0f}" for v in vals))


if __name__ == "__main__":
    main()
