#!/usr/bin/env python3
"""Fails when a function in services/ or shared/ is longer than the limit (project rule:
functions under 70 lines).

A function's length is its lines from the `fn` line to its closing brace, blank lines and
comments inside included. Tests are exempt: `tests/` directories, `tests.rs` files and items
under `#[cfg(test)]`. Run by `make lint` and `make test-fast`.

Usage: scripts/fn-length.py [--max N] [--exempt DIR ...] [PATH ...]
"""
import argparse
import os
import re
import sys

# Paths exempt from the rule (none: every crate complies).
DEFAULT_EXEMPT = []


def code_of(text):
    """The text with comments, strings and char literals blanked (newlines kept), so that
    braces and keywords are seen only where they are code."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != '\n':
                out[k] = ' '

    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif text.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            end = text.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only the former is blanked.
            m = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'").match(text, i)
            if m:
                blank(i, m.end())
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return ''.join(out)


FN = re.compile(r'\bfn\s+([A-Za-z_][A-Za-z0-9_]*)')
CFG_TEST = re.compile(r'#\[cfg\(test\)\]')


def long_functions(path, limit):
    code = code_of(open(path, encoding='utf-8').read())
    offenders = []
    # Token scan: `fn name` opens a function at its next `{` (a `;` first means no body).
    tokens = re.finditer(r'#\[cfg\(test\)\]|\bfn\s+[A-Za-z_][A-Za-z0-9_]*|[{};()\[\]]', code)
    line_of = lambda pos: code.count('\n', 0, pos) + 1
    depth = 0
    nesting = 0  # ( and [ around the token: a `;` there is part of a type, e.g. [u8; 32]
    waiting = None  # (name, start) of a fn whose body has not opened yet
    test_pending = False
    test_depth = None  # the depth a #[cfg(test)] item's body runs at
    stack = []  # (name, start, depth of body)
    for tok in tokens:
        t = tok.group(0)
        if t.startswith('#'):
            test_pending = True
        elif t.startswith('fn'):
            if waiting is None:
                waiting = (FN.match(t).group(1), line_of(tok.start()), test_pending or test_depth is not None)
                test_pending = False
        elif t in '([':
            nesting += 1
        elif t in ')]':
            nesting -= 1
        elif t == ';':
            if nesting == 0:
                # A declaration without a body (a trait's), or a `#[cfg(test)] use …;`.
                waiting = None
                test_pending = False
        elif t == '{':
            depth += 1
            if waiting is not None:
                stack.append((waiting[0], waiting[1], depth, waiting[2]))
                waiting = None
            elif test_pending:
                test_depth = depth
                test_pending = False
        else:
            if stack and stack[-1][2] == depth:
                name, start, _, in_test = stack.pop()
                length = line_of(tok.start()) - start + 1
                if length > limit and not in_test:
                    offenders.append((path, start, name, length))
            if test_depth == depth:
                test_depth = None
            depth -= 1
    return offenders


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--max', type=int, default=70)
    parser.add_argument('--exempt', nargs='*', default=DEFAULT_EXEMPT)
    parser.add_argument('paths', nargs='*', default=['services', 'shared'])
    args = parser.parse_args()
    offenders = []
    for root in args.paths:
        if os.path.isfile(root):
            offenders += long_functions(root, args.max)
            continue
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in ('tests', 'target', 'testdata'))
            if any(directory == e or directory.startswith(e + '/') for e in args.exempt):
                dirs[:] = []
                continue
            for name in sorted(files):
                if name.endswith('.rs') and name != 'tests.rs':
                    offenders += long_functions(os.path.join(directory, name), args.max)
    for path, line, name, length in offenders:
        print(f'{path}:{line}: fn {name} is {length} lines, more than {args.max}')
    if offenders:
        print(f'fn-length: {len(offenders)} functions over {args.max} lines', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
