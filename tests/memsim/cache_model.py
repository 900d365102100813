"""A small, obviously-correct pure-Python model of memsim's caches (the reference for sectored lines,
PLRU, FIFO, random replacement, write policies and multi-core hierarchies). It follows the semantics
written in smartmem_sim/memsim/cache.py and smartmem_sim/memsim/hierarchy.py one request at a time, with sets as Python lists and
sectors as Python sets; it shares no code with the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MASK64 = (1 << 64) - 1


@dataclass
class Entry:
    tag: int
    valid: set
    dirty: set = field(default_factory=set)


class ModelLevel:
    """One copy of a level. Sets hold `ways` slots (None = invalid)."""

    def __init__(self, size, ways, line, sector=None, policy="lru", write="write-back", write_allocate=True,
                 seed=None, copy_index=0, **_ignored):
        self.ways, self.line = ways, line
        self.sector = sector or line
        self.sets = size // (ways * line)
        self.policy, self.write, self.walloc = policy, write, write_allocate
        self.slots = [[None] * ways for _ in range(self.sets)]
        self.order = [[] for _ in range(self.sets)]  # LRU: ways, most recent last; FIFO: ways, newest last
        self.tree = [[0] * max(ways - 1, 1) for _ in range(self.sets)]
        s = (((seed or 0) + copy_index + 1) * 0x9E3779B97F4A7C15) & MASK64
        self.rng = s or 1
        self.stats = dict.fromkeys(("accesses", "hits", "misses", "sector_misses", "bytes_read", "bytes_filled",
                                    "writes", "bytes_stored", "writebacks", "bytes_written"), 0)

    # replacement bookkeeping
    def _touch(self, s, w):
        if self.policy == "lru":
            self.order[s].remove(w)
            self.order[s].append(w)
        elif self.policy == "plru":
            self._tree_touch(s, w)

    def _filled(self, s, w):
        if self.policy in ("lru", "fifo"):
            if w in self.order[s]:
                self.order[s].remove(w)
            self.order[s].append(w)
        elif self.policy == "plru":
            self._tree_touch(s, w)

    def _tree_touch(self, s, w):
        depth = (self.ways - 1).bit_length()
        node = 0
        for lvl in range(depth):
            d = (w >> (depth - 1 - lvl)) & 1
            self.tree[s][node] = 1 - d  # point away from w
            node = 2 * node + 1 + d

    def _victim(self, s):
        for w in range(self.ways):
            if self.slots[s][w] is None:
                return w
        if self.policy in ("lru", "fifo"):
            return self.order[s][0]
        if self.policy == "plru":
            depth = (self.ways - 1).bit_length()
            node, w = 0, 0
            for _ in range(depth):
                d = self.tree[s][node]
                w = (w << 1) | d
                node = 2 * node + 1 + d
            return w
        x = self.rng
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        self.rng = x
        return x % self.ways

    def _span(self, line_no, secs):
        lo, hi = min(secs), max(secs)
        return (line_no * self.line + lo * self.sector, (hi - lo + 1) * self.sector)

    def access(self, addr, nb, store):
        """One access inside one line; returns the requests sent below, in order."""
        st = self.stats
        line_no, off = divmod(addr, self.line)
        secs = set(range(off // self.sector, (off + nb - 1) // self.sector + 1))
        s = line_no % self.sets
        w = next((k for k, e in enumerate(self.slots[s]) if e is not None and e.tag == line_no), None)
        if store and self.write == "read-only":
            st["writes"] += 1
            st["bytes_written"] += nb
            if w is not None:
                e = self.slots[s][w]
                e.valid -= secs
                if not e.valid:
                    self.slots[s][w] = None
                    if w in self.order[s]:
                        self.order[s].remove(w)
            return [(addr, nb, True)]
        st["accesses"] += 1
        if store:
            st["writes"] += 1
            st["bytes_stored"] += nb
        else:
            st["bytes_read"] += nb
        out = []
        if w is not None:
            e = self.slots[s][w]
            missing = secs - e.valid
            if missing:
                st["misses"] += 1
                st["sector_misses"] += 1
            else:
                st["hits"] += 1
            if missing and store and not self.walloc:
                st["bytes_written"] += nb
                return [(addr, nb, True)]
            if missing:
                out.append((*self._span(line_no, missing), False))
                e.valid |= missing
                st["bytes_filled"] += len(missing) * self.sector
            self._touch(s, w)
            if store:
                if self.write == "write-back":
                    e.dirty |= secs
                else:
                    st["bytes_written"] += nb
                    out.append((addr, nb, True))
            return out
        st["misses"] += 1
        if store and not self.walloc:
            st["bytes_written"] += nb
            return [(addr, nb, True)]
        v = self._victim(s)
        out.append((*self._span(line_no, secs), False))
        st["bytes_filled"] += len(secs) * self.sector
        old = self.slots[s][v]
        if old is not None and old.dirty:
            a, n = self._span(old.tag, old.dirty)
            st["writebacks"] += 1
            st["bytes_written"] += n
            out.append((a, n, True))
        self.slots[s][v] = Entry(line_no, set(secs), set(secs) if store and self.write == "write-back" else set())
        self._filled(s, v)
        if store and self.write == "write-through":
            st["bytes_written"] += nb
            out.append((addr, nb, True))
        return out


class ModelHierarchy:
    """Levels as dicts of CacheLevel keys; per_core levels get one copy per core."""

    def __init__(self, levels, cores=1):
        self.specs = levels
        self.copies = [[ModelLevel(**lv, copy_index=c) for c in range(cores if lv.get("per_core") else 1)]
                       for lv in levels]
        self.dram_read = self.dram_written = self.dram_requests = 0

    def _send(self, k, core, addr, nb, store):
        if k == len(self.specs):
            self.dram_requests += 1
            if store:
                self.dram_written += nb
            else:
                self.dram_read += nb
            return
        level = self.copies[k][core if self.specs[k].get("per_core") else 0]
        line = level.line
        end = addr + nb
        while addr < end:
            piece = min(end, (addr // line + 1) * line) - addr
            for a, n, st in level.access(addr, piece, store):
                self._send(k + 1, core, a, n, st)
            addr += piece

    def run(self, addrs, cores, stores, nbytes):
        for a, c, s, n in zip(addrs, cores, stores, nbytes, strict=True):
            self._send(0, int(c), int(a), int(n), bool(s))
        return self

    def level_totals(self, k):
        tot = {}
        for copy in self.copies[k]:
            for key, v in copy.stats.items():
                tot[key] = tot.get(key, 0) + v
        return tot
