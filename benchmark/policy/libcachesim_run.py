"""Replays a trace (one integer key per line) through libCacheSim's LRU,
S3FIFO and WTinyLFU at the given cache sizes (objects of size 1) and prints
their hit ratios as JSON: {"LRU": [...], "S3FIFO": [...], "WTinyLFU": [...]}.

Usage: python3 libcachesim_run.py TRACE SIZE [SIZE...]
"""

import json
import sys

import libcachesim as lcs


def main():
    path = sys.argv[1]
    sizes = [int(s) for s in sys.argv[2:]]
    reader = lcs.TraceReader(path, lcs.TraceType.PLAIN_TXT_TRACE)
    out = {}
    for name, make in (("LRU", lcs.LRU), ("S3FIFO", lcs.S3FIFO), ("WTinyLFU", lcs.WTinyLFU)):
        ratios = []
        for size in sizes:
            miss, _ = make(cache_size=size).process_trace(reader)
            ratios.append(1.0 - miss)
        out[name] = ratios
    print(json.dumps(out))


if __name__ == "__main__":
    main()
