#!/usr/bin/env python3
"""Prints the module import graph of crates/missive/src and exits 1 on a circle.

A module is a file (folder/mod.rs is the folder's module). An edge A -> B
means a path in A names crate::B (or super::B / a child) outside #[cfg(test)].
"""
import os, re, sys

root = os.path.join(os.path.dirname(__file__), '..', 'crates', 'missive', 'src')
mods = {}
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith('.rs'):
            continue
        rel = os.path.relpath(os.path.join(d, f), root)[:-3]
        parts = rel.split(os.sep)
        if parts[-1] == 'mod':
            parts = parts[:-1]
        if parts in (['lib'], ['main']):
            continue
        name = '::'.join(parts)
        text = open(os.path.join(d, f)).read()
        text = text.split('#[cfg(test)]')[0]
        mods[name] = text

def resolve(base, path):
    """The longest known module that `path` (a::b::c) under `base` names."""
    segs = path.split('::')
    cur = base.split('::') if base else []
    if segs[0] == 'crate':
        cur, segs = [], segs[1:]
    elif segs[0] == 'super':
        while segs and segs[0] == 'super':
            cur = cur[:-1]
            segs = segs[1:]
    elif segs[0] == 'self':
        segs = segs[1:]
    else:
        return None
    best = None
    for i in range(1, len(segs) + 1):
        cand = '::'.join(cur + segs[:i])
        if cand in mods:
            best = cand
    return best

edges = {m: set() for m in mods}
for m, text in mods.items():
    for p in re.findall(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)', text):
        t = resolve(m, p)
        if t and t != m and not t.startswith(m + '::'):
            # a module using its own parent's items counts as an edge to the parent
            edges[m].add(t)
    # `use super::{a, b}` groups
    for grp in re.findall(r'use (crate|super)::\{([^}]*)\}', text):
        for item in grp[1].split(','):
            item = item.strip().split(' ')[0].split('::')[0]
            if item:
                t = resolve(m, grp[0] + '::' + item)
                if t and t != m and not t.startswith(m + '::'):
                    edges[m].add(t)

# A parent module declaring children is not an import; children using their
# parent's re-exports are. Circles: strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1:
            sccs.append(comp)
sys.setrecursionlimit(10000)
for v in mods:
    if v not in index:
        visit(v)

top = {}
for m, ts in edges.items():
    for t in ts:
        a, b = m.split('::')[0], t.split('::')[0]
        if a != b:
            top.setdefault(a, set()).add(b)
for a in sorted(top):
    print(f"{a:10} -> {', '.join(sorted(top[a]))}")
if sccs:
    for c in sccs:
        print('circle:', ' <-> '.join(sorted(c)))
    sys.exit(1)
print(f"{len(mods)} modules, no import circle")
