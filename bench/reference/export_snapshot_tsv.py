#!/usr/bin/python3
"""Writes a dataset snapshot (.mqds, docs/formats/snapshot.md) as a TSV file
(user<TAB>item<TAB>value<TAB>time), rows in a seeded random order (a log is not sorted by user),
for the from-a-file jobs of bench/ml20m_shape.sh.

Usage: export_snapshot_tsv.py SNAPSHOT.mqds OUT.tsv"""
import struct
import sys

import numpy as np


def main():
    src, out = sys.argv[1], sys.argv[2]
    b = np.memmap(src, dtype=np.uint8, mode="r")
    n = struct.unpack_from("<Q", b, 24)[0]
    count = struct.unpack_from("<I", b, 40)[0]
    sections = {}
    for k in range(count):
        tag, _, off, length = struct.unpack_from("<IIQQ", b, 64 + 24 * k)
        sections[tag] = (off, length)

    def array(tag, dtype):
        off, length = sections[tag]
        return np.frombuffer(b[off:off + length], dtype=dtype)

    def ids(offsets_tag, blob_tag):
        o = array(offsets_tag, "<u8")
        blob = bytes(array(blob_tag, "u1"))
        return np.array([blob[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)], dtype=object)

    users, items = array(1, "<u4"), array(2, "<u4")
    values = array(3, "<f4") if 3 in sections else np.ones(n, "f4")
    times = array(4, "<i8") if 4 in sections else np.zeros(n, "i8")
    user_ids, item_ids = ids(6, 7), ids(8, 9)
    order = np.random.default_rng(1).permutation(n)
    with open(out, "w") as f:
        for s in range(0, n, 1_000_000):
            p = order[s:s + 1_000_000]
            f.writelines("%s\t%s\t%g\t%d\n" % row for row in
                         zip(user_ids[users[p]], item_ids[items[p]], values[p], times[p]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
