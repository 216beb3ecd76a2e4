#!/usr/bin/env python3
"""Copies stdin to stdout, each line prefixed with the wall-clock time (HH:MM:SS.mmm, UTC)."""
import sys
import time

for line in sys.stdin:
    t = time.time()
    sys.stdout.write(time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03d " % (t % 1 * 1000) + line)
    sys.stdout.flush()
