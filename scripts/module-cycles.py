#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

An edge A → B is a `crate::B` path in module A (a `use` or a qualified name, `use crate::{B, …}`
included). The crate root (lib.rs, main.rs) is the composition root — it wires every module
into routes and registries — and is left out; its own items named as `crate::Item` are not
modules and make no edge. A module's files are `src/A.rs` and everything under `src/A/`.
Run by `make lint` and `make test-fast`.

Usage: scripts/module-cycles.py [CRATE_DIR ...]   (default: every crate of services/ and shared/,
and load-tests)
"""
import glob
import os
import re
import sys

def default_crates():
    crates = sorted(glob.glob('services/*/src') + glob.glob('shared/*/src') + ['load-tests/src'])
    return [os.path.dirname(c) for c in crates]


def without_comments(text):
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def top_level_names(group):
    """The first path segment of each item of a `{…}` use group."""
    names, depth, current = [], 0, ''
    for c in group:
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
        if c == ',' and depth == 0:
            names.append(current)
            current = ''
        else:
            current += c
    names.append(current)
    return [n.strip().split('::')[0].strip() for n in names if n.strip()]


def module_files(src):
    modules = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if entry.endswith('.rs') and entry not in ('lib.rs', 'main.rs'):
            modules.setdefault(entry[:-3], []).append(path)
        elif os.path.isdir(path):
            for directory, _, files in os.walk(path):
                modules.setdefault(entry, []).extend(
                    os.path.join(directory, f) for f in sorted(files) if f.endswith('.rs'))
    return modules


def edges(modules):
    graph = {name: set() for name in modules}
    for name, files in modules.items():
        for path in files:
            code = without_comments(open(path, encoding='utf-8').read())
            targets = re.findall(r'\bcrate::([a-z_][a-z0-9_]*)', code)
            for group in re.findall(r'\bcrate::\{(.*?)\};', code, flags=re.S):
                targets += top_level_names(group)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycle(graph):
    """One cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def main():
    failed = False
    for crate in sys.argv[1:] or default_crates():
        found = cycle(edges(module_files(os.path.join(crate, 'src'))))
        if found:
            print(f'{crate}: modules import each other in a circle: {" -> ".join(found)}')
            failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
