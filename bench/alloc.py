"""alloc.py -- workload 9a: an allocation-heavy Python program.

Run by bench/run as `/usr/bin/python3 bench/alloc.py N` with
PYTHONMALLOC=malloc, so that every object goes through the allocator under
test (by default CPython serves objects up to 512 bytes from its own
pymalloc arenas, and the allocator would see only large blocks).

It builds and drops dicts of strings, lists of tuples, strings by
concatenation and formatting, sorts and a tree of small objects: the
allocation pattern of a typical interpreter-heavy program.  Prints the
number of objects made so the runner can check it ran.
"""
import sys


class Node:
    __slots__ = ("key", "left", "right")

    def __init__(self, key):
        self.key = key
        self.left = None
        self.right = None


def insert(root, key):
    node = root
    while True:
        if key < node.key:
            if node.left is None:
                node.left = Node(key)
                return
            node = node.left
        else:
            if node.right is None:
                node.right = Node(key)
                return
            node = node.right


def round_(n, seed):
    made = 0
    # dicts of strings and lists
    d = {}
    for i in range(n):
        k = "key-%d-%d" % (i, seed)
        d[k] = [i, str(i) * 3, (i, k)]
        made += 4
    # string building
    parts = []
    for k, v in d.items():
        if v[0] % 3 == 0:
            parts.append(k + ":" + v[1])
    s = ",".join(parts)
    made += len(parts) + 1
    # sort tuples, drop half of the dict
    items = sorted(((v[0] * 7919) % n, k) for k, v in d.items())
    made += len(items)
    for _, k in items[: n // 2]:
        del d[k]
    # a tree of small objects with random-ish keys
    x = seed + 1
    root = Node(0)
    for _ in range(n // 4):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        insert(root, x)
        made += 1
    # a list of sets and bytes
    blobs = [bytes(range(i % 200)) for i in range(n // 4)]
    sets = [set(range(i % 16)) for i in range(n // 4)]
    made += len(blobs) + len(sets)
    return made + len(s) % 7 + len(d)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    made = 0
    for r in range(rounds):
        made += round_(n, r)
    print("python: objects=%d" % made)


if __name__ == "__main__":
    main()
