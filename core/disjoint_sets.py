"""Disjoint sets (union-find) over 0..n-1, the smaller index always the root, so a group is named
by its first member (the earlier word, the first token). Used to group words and tokens that
overlap by characters (core.compare.words, core.probing.align)."""

from __future__ import annotations


class DisjointSets:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        """The root of i's set (path halving on the way)."""
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        """Join the sets of i and j under the smaller root; False when they were one set already."""
        a, b = self.find(i), self.find(j)
        if a == b:
            return False
        self.parent[max(a, b)] = min(a, b)
        return True
