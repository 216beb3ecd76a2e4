#!/usr/bin/env python3
"""Prints the tables of bench/flood/run.sh from its results.tsv.

    report.py RESULTS RATES

A line of RESULTS (tab-separated): daemon interval place kind rate run B-became-master
A-left-master sent/s B-rx/s B-log-lines cpuA cpuB secs roles-after pikemon-B-drops note
machine-idle%. Rate 0 is the control (the same watch without a flood).
"""
import sys

results, rates = sys.argv[1], sys.argv[2].split()
rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
by, keys = {}, []
for r in rows:
    by.setdefault(tuple(r[:5]), []).append(r)
    if tuple(r[:4]) not in keys:
        keys.append(tuple(r[:4]))


def kpps(v):
    v = float(v)
    return "%.1fk" % (v / 1000) if v >= 1000 else "%.0f" % v


print()
print("Flood of the protocol's own frames against a healthy pair (A Master, B Backup).")
print("false = times B became Master (sum over the runs); rate 0 = no flood (the control);")
print("sent = frames/s the attacker's interface sent; B rx = frames/s B's interface received;")
print("B log = lines B's daemon logged in the step; CPU = worker (pikemon) / VRRP child")
print("(keepalived) of A and B, % of one core over the flood; idle = the whole machine's idle %.")
print()
print("%-10s %5s %5s %-8s %6s %5s %8s %8s %8s %6s %6s %4s  %s" % (
    "daemon", "iv ms", "place", "kind", "rate", "false", "sent/s", "B rx/s", "B log", "CPU A", "CPU B",
    "idle", "pikemon B's counters / notes"))
survived = {}
for k in keys:
    best, broken, control = None, False, 0
    for rate in rates:
        runs = by.get(k + (rate,))
        if not runs:
            continue
        false = sum(int(r[6]) for r in runs)
        sent = max(float(r[8]) for r in runs)
        notes = [r[15] for r in runs if r[15] != "-"]
        notes += [r[16] for r in runs if r[16] != "-"]
        notes += ["roles after: " + r[14] for r in runs if r[14] != "Master/Backup"]
        idle = min(int(r[17]) for r in runs) if len(runs[0]) > 17 else -1
        print("%-10s %5s %5s %-8s %6s %5d %8s %8s %8d %6.1f %6.1f %4s  %s" % (
            k[0], k[1], k[2], k[3], rate, false, kpps(sent), kpps(max(float(r[9]) for r in runs)),
            max(int(r[10]) for r in runs), max(float(r[11]) for r in runs),
            max(float(r[12]) for r in runs), idle if idle >= 0 else "-", " ".join(notes)))
        if rate == "0":
            control += false
        elif false:
            broken = True
        elif not broken:
            best = max(best or 0, sent)
    survived[k] = (best, broken, control)


def cell(s):
    if s is None:
        return "-"
    best, broken, control = s
    text = "none" if best is None else kpps(best) + ("" if broken else " (all)")
    return text + (" c%d" % control if control else "")


print()
print("Highest achieved rate survived (no false failover at it and at every lower rate); (all) = no")
print("rate made it fail; cN = N false failovers without any flood (the control), in the same pair:")
print("%5s %5s %-8s %16s %16s  %s" % ("iv ms", "place", "kind", "pikemon", "keepalived", "pikemon / keepalived"))
seen = []
for (_, iv, place, kind) in keys:
    if (iv, place, kind) in seen:
        continue
    seen.append((iv, place, kind))
    p = survived.get(("pikemon", iv, place, kind))
    k = survived.get(("keepalived", iv, place, kind))
    ratio = "-"
    if p and k and p[0] and k[0]:
        ratio = "%.2f" % (p[0] / k[0])
        if not p[1] and not k[1]:
            ratio += " (both survived every rate: the attacker's limit)"
        elif not p[1]:
            ratio = ">= " + ratio + " (pikemon survived every rate)"
    elif p and k and p[0] and not k[0]:
        ratio = "inf (keepalived failed at the lowest rate)"
    elif p and k and not p[0] and k[0]:
        ratio = "0 (pikemon failed at the lowest rate)"
    print("%5s %5s %-8s %16s %16s  %s" % (iv, place, kind, cell(p), cell(k), ratio))
