#!/usr/bin/python3
"""Checks what kcat read from central Kafka against what the local log held.

usage: verify.py MODE FILE N [GAPFILE]
  MODE: exact         every seq 1..N exactly once (no crash happened)
        at_least_once every seq 1..N at least once; duplicates are byte-identical copies
        exactly_once  like exact, after dropping records of transactions the cluster should
                      have aborted (see below)
        gaps          data seqs and the gap records' ranges together cover 1..N, disjoint
FILE lines: key<TAB>headers<TAB>partition<TAB>value   (kcat -f '%k\\t%h\\t%p\\t%s\\n')

Always: headers outpost-agent/-stream/-seq/-event-time present, and per key the first
occurrences of sequences are increasing (order per key).

exactly_once on the librdkafka mock cluster: the mock writes no transaction markers, so a
read_committed consumer also sees records of transactions that were open when a syncing
process was killed (a real broker aborts them when the next instance calls
init_transactions). Those records are recognisable: the next instance resumes at the last
committed cursor + 1, so within a partition a sequence goes backwards exactly where an
aborted transaction's records end. Records from that point back to the earlier occurrence are
dropped before checking exactly-once.
"""
import json
import sys
from collections import defaultdict


def parse(path):
    recs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t", 3)
            if len(parts) != 4:
                raise SystemExit(f"{path}: malformed line: {line[:120]}")
            key, hdrs, part, value = parts
            h = dict(kv.split("=", 1) for kv in hdrs.split(",") if "=" in kv)
            recs.append((key, h, int(part), value))
    return recs


def main():
    mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    recs = parse(path)
    errors = []
    seqs = []
    for key, h, part, value in recs:
        for name in ("outpost-agent", "outpost-stream", "outpost-seq", "outpost-event-time"):
            if name not in h:
                errors.append(f"record without header {name}: {key} {value[:60]}")
                break
        else:
            seqs.append((int(h["outpost-seq"]), key, part, value))
    if mode == "exactly_once":
        by_part = defaultdict(list)
        for s in seqs:
            by_part[s[2]].append(s)
        kept = []
        dropped = 0
        for part, lst in by_part.items():
            out = []
            for s in lst:
                while out and out[-1][0] >= s[0]:
                    out.pop()
                    dropped += 1
                out.append(s)
            kept.extend(out)
        print(f"exactly_once: dropped {dropped} records of uncommitted transactions")
        seqs = kept
    count = defaultdict(int)
    values = {}
    first_by_key = {}
    for seq, key, part, value in seqs:
        count[seq] += 1
        if seq in values and values[seq] != value:
            errors.append(f"seq {seq} arrived twice with different payloads")
        values[seq] = value
        if count[seq] == 1:
            if key in first_by_key and first_by_key[key] > seq:
                errors.append(f"order per key broken for key {key}: {seq} after {first_by_key[key]}")
            first_by_key[key] = seq
    covered = set(count)
    if mode == "gaps":
        gaps = []
        with open(sys.argv[4], encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    g = json.loads(line.split("\t")[-1])
                    gaps.append(g)
                    for k in ("agent", "stream", "mirror", "first_seq", "last_seq", "reason", "count"):
                        if k not in g:
                            errors.append(f"gap record without {k}: {g}")
        for g in gaps:
            r = set(range(g["first_seq"], g["last_seq"] + 1))
            if r & covered:
                errors.append(f"gap {g['first_seq']}..{g['last_seq']} overlaps delivered records")
            if g["count"] != len(r):
                errors.append(f"gap count {g['count']} != range size")
            covered |= r
        print(f"gaps: {len(gaps)} gap records covering {sum(g['count'] for g in gaps)} seqs: "
              + ", ".join(f"{g['first_seq']}..{g['last_seq']} ({g['reason']})" for g in gaps))
        if not gaps:
            errors.append("no gap record arrived")
    missing = [s for s in range(1, n + 1) if s not in covered]
    extra = [s for s in covered if s < 1 or s > n]
    dups = sum(c - 1 for c in count.values())
    if missing:
        errors.append(f"{len(missing)} seqs missing, first {missing[:10]}")
    if extra:
        errors.append(f"unexpected seqs {sorted(extra)[:10]}")
    if mode in ("exact", "exactly_once", "gaps") and dups:
        errors.append(f"{dups} duplicates in {mode} mode")
    print(f"{mode}: {len(recs)} records read, {len(count)} distinct seqs of {n}, {dups} duplicates")
    for e in errors[:20]:
        print("ERROR:", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
