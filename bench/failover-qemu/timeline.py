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

Both daemons also get

  even phase      outage + phase - half a hello: the outage had the master died half a hello
                  after its last HELLO (advert), the average the issue's arithmetic assumes;
                  a set's median of it does not depend on the phases the set drew

and, where both daemons ran, the ratio pikemon / keepalived of the outage's medians and of
the even-phase medians.

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
    """(time, frame) of a classic pcap file of Ethernet frames; nothing for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    for order in "<>":
        magic, = struct.unpack(order + "I", data[:4])
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        return
    nano = magic == 0xA1B23C4D
    if struct.unpack(order + "I", data[20:24])[0] != 1:  # LINKTYPE_ETHERNET
        return
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(order + "IIII", data[off:off + 16])
        off += 16
        if off + caplen > len(data):
            return  # a record cut off by the capture's end
        yield sec + frac / (1e9 if nano else 1e6), data[off:off + caplen]
        off += caplen


def echo_replies(fs):
    """Times of the echo replies from the LAN VIP (untagged IPv4, any header length)."""
    out = []
    for t, f in fs:
        if len(f) < 34 or f[12:14] != IPV4 or f[23] != 1 or f[26:30] != LAN_VIP:
            continue
        icmp = 14 + (f[14] & 15) * 4
        if len(f) > icmp and f[icmp] == 0:
            out.append(t)
    return out


def gap_start(times, before):
    """The time that starts the longest gap in `times` (sorted) among those up to `before`:
    a dead sender's last HELLO or advert, not the one before it."""
    times = [t for t in times if t <= before]
    if not times:
        return None
    return max(zip(times, times[1:] + [before]), key=lambda p: p[1] - p[0])[0]


def keepalived_trial(path):
    fs = list(frames(path))
    replies = echo_replies(fs)
    hb = path.rsplit("/", 1)
    hb = f"{hb[0]}/hb-{hb[1]}"
    try:
        adverts = [t for t, f in frames(hb) if len(f) > 23 and f[12:14] == IPV4
                   and f[23] == VRRP]
    except OSError:
        return None
    if len(replies) < 2:
        return None
    gap, last_reply, first_reply = max(
        (b - a, a, b) for a, b in zip(replies, replies[1:]))
    last_advert = gap_start(adverts, first_reply)
    garp = min([t for t, f in fs if len(f) >= 42 and f[12:14] == ARP and f[28:32] == LAN_VIP
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
    vmac = next((f[6:12] for _, f in fs if len(f) >= 42 and f[12:14] == ARP
                 and f[28:32] == LAN_VIP and (f[20:22] == b"\x00\x02" or f[38:42] == LAN_VIP)),
                None)
    replies = echo_replies(fs)
    if vmac is None or len(replies) < 2:
        return None
    gap, last_reply, first_reply = max(
        (b - a, a, b) for a, b in zip(replies, replies[1:]))
    from_vmac = [t for t, f in fs if f[6:12] == vmac]
    # HELLOs only: the Master's macvlan also sends MLD reports from the virtual MAC.
    hellos = [t for t, f in fs if f[6:12] == vmac and f[12:14] == PIKE]
    last_hello = gap_start(hellos, first_reply)
    if last_hello is None:
        return None
    # After the dead master's last echo reply: before it, the dying master's own MLD reports.
    first_vmac = min([t for t in from_vmac if t > max(last_hello, last_reply)], default=None)
    if first_vmac is None:
        return None
    probes = [t for t, f in fs if len(f) >= 42 and f[12:14] == ARP and f[28:32] == bytes(4)
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
        groups = sorted({tuple(p.split("/")[-1].split("-")[:3])
                         for p in glob.glob(f"{d}/*-*-*-*.pcap")
                         if not p.split("/")[-1].startswith("hb-")})
        medians = {}
        for daemon, hello, scenario in groups:
            paths = sorted(glob.glob(f"{d}/{daemon}-{hello}-{scenario}-*.pcap"))
            rows = [r for r in map(trial, paths) if r]
            if not rows:
                continue
            # The outage had the master died half a hello after its last HELLO (advert): the
            # average phase, the one the arithmetic assumes. Each trial's own phase
            # is taken out, so the phases a set drew do not move its median.
            for r in rows:
                r["even phase"] = r["outage"] + r["phase"] - int(hello) / 2
            print(f"{d}: {daemon}, {hello} ms hellos, {scenario}, {len(rows)} trials")
            for key in rows[0]:
                vals = [r[key] for r in rows if r[key] is not None]
                if vals:
                    print(f"  {key:13s} {statistics.median(vals):7.1f}   "
                          + " ".join(f"{v:.0f}" for v in vals))
            medians[(daemon, hello, scenario)] = (
                statistics.median(r["outage"] for r in rows),
                statistics.median(r["even phase"] for r in rows))
        for (daemon, hello, scenario), (p, pe) in sorted(medians.items()):
            k = medians.get(("keepalived", hello, scenario))
            if daemon == "pikemon" and k and k[0] > 0 and k[1] > 0:
                print(f"{d}: pikemon / keepalived, {hello} ms, {scenario}: outage "
                      f"{p / k[0]:.2f}, at the even phase {pe / k[1]:.2f}")


if __name__ == "__main__":
    main()
