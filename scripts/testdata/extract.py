#!/usr/bin/env python3
"""Extract the project's test data from upstream documents, mechanically.

    scripts/testdata/extract.py fetch --upstream DIR   fetch npm sources, read file sources from
                                                       DIR, check every sha256, write outputs and
                                                       testdata.lock.json

`make test-fast` checks the result offline (tests/src/testdata_lock.rs): every file under a
testdata/ folder is listed in testdata.lock.json, with the sha256 written here.

Sources and outputs are listed in sources.toml beside this file. Transforms only copy or
re-encode what the source says (JS object literals to JSON, one OpenAPI enum to a list); none of
them computes a value the project's code would compute, so the data stays independent of the code
it checks. Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tarfile
import tomllib
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCES = HERE / "sources.toml"
LOCK = HERE / "testdata.lock.json"
REGISTRY = "https://registry.npmjs.org"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fail(message: str) -> None:
    print(f"testdata: {message}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------------------ JS literals


TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/
      |(?P<punct>[{}\[\],:])
      |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      |(?P<num>-?\d+(?:\.\d+)?)
      |(?P<ident>[A-Za-z_$][\w$]*)""",
    re.S | re.X,
)


def js_tokens(text: str):
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unexpected JS at: {text[pos:pos + 40]!r}")
        pos = m.end()
        for kind in ("punct", "str", "num", "ident"):
            if m.group(kind) is not None:
                yield kind, m.group(kind)


def js_string(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_js_literal(text: str):
    """A JS object/array literal of plain data (strings, numbers, null, booleans)."""
    tokens = list(js_tokens(text))
    pos = 0

    def value():
        nonlocal pos
        kind, tok = tokens[pos]
        pos += 1
        if tok == "{":
            out = {}
            while tokens[pos][1] != "}":
                key_kind, key = tokens[pos]
                key = js_string(key) if key_kind == "str" else key
                assert tokens[pos + 1][1] == ":", f"expected ':' after {key}"
                pos += 2
                out[key] = value()
                if tokens[pos][1] == ",":
                    pos += 1
            pos += 1
            return out
        if tok == "[":
            out = []
            while tokens[pos][1] != "]":
                out.append(value())
                if tokens[pos][1] == ",":
                    pos += 1
            pos += 1
            return out
        if kind == "str":
            return js_string(tok)
        if kind == "num":
            return float(tok) if "." in tok else int(tok)
        if tok in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[tok]
        raise ValueError(f"not plain data: {tok}")

    result = value()
    return result


def js_const(source: str, name: str) -> str:
    """The literal text assigned by `const <name> = ` (up to its matching bracket)."""
    m = re.search(r"\bconst\s+" + re.escape(name) + r"\s*=\s*([\[{])", source)
    if not m:
        raise ValueError(f"const {name} not found")
    open_ch = m.group(1)
    close_ch = "]" if open_ch == "[" else "}"
    depth, i = 0, m.start(1)
    in_str = None
    while i < len(source):
        c = source[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == in_str:
                in_str = None
        elif c in "'\"`":
            in_str = c
        elif c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return source[m.start(1) : i + 1]
        i += 1
    raise ValueError(f"const {name} not closed")


# ------------------------------------------------------------------------------- transforms


def dump(value) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode()


def origin_of(source: dict, member: str | None = None) -> str:
    if source["kind"] == "npm":
        where = f"{source['package']}@{source['version']}"
        return f"{where} {member.removeprefix('package/')}" if member else where
    return source["origin"]


def t_error_catalogue(ctx) -> bytes:
    text = ctx.member_text()
    codes = parse_js_literal(js_const(text, "MojaloopApiErrorCodes"))
    out = [
        {
            "name": name,
            "code": entry["code"],
            "message": entry["message"],
            "httpStatusCode": entry.get("httpStatusCode"),
        }
        for name, entry in codes.items()
    ]
    return dump({"source": ctx.origin(), "codes": out})


def openapi_enum(text: str, schema: str) -> list[str]:
    """`components.schemas.<schema>.enum` of a block-style OpenAPI YAML, by indentation."""
    lines = text.splitlines()
    start = lines.index("  schemas:")
    i = lines.index(f"    {schema}:", start)
    i += 1
    while lines[i].rstrip() != "      enum:":
        if not lines[i].startswith("      "):
            raise ValueError(f"{schema} has no enum")
        i += 1
    values = []
    for line in lines[i + 1 :]:
        stripped = line.strip()
        if not stripped.startswith("- ") or not line.startswith("        "):
            break
        values.append(stripped[2:].strip().strip("'\""))
    return values


def t_currencies(ctx) -> bytes:
    seeds = parse_js_literal(js_const(ctx.member_text(), "currencies"))
    (openapi_id,) = ctx.output["with"]
    openapi = ctx.other_text(openapi_id)
    return dump(
        {
            "source": ctx.origin(),
            "minorUnits": {row["currencyId"]: row["scale"] for row in seeds},
            "openapiSource": ctx.origin_of(openapi_id),
            "openapiCurrencyEnum": openapi_enum(openapi, "Currency"),
        }
    )


def t_seed(ctx) -> bytes:
    text = ctx.member_text()
    name = re.search(r"\bconst\s+(\w+)\s*=\s*\[", text).group(1)
    return dump({"source": ctx.origin(), name: parse_js_literal(js_const(text, name))})


def t_header_rules(ctx) -> bytes:
    index = ctx.member_text()
    plugin = ctx.member_text("package/src/util/hapi/plugins/headerValidation.js")
    constants = ctx.member_text("package/src/constants.js")
    versions = js_const(index, "protocolVersions")
    one = re.search(r"ONE:\s*(\[[^\]]*\])", versions).group(1)
    two = re.search(r"TWO:\s*(\[[^\]]*\])", versions).group(1)
    def template(name: str) -> str:  # a generator's template literal, JS escapes resolved
        raw = re.search(r"const " + name + r" = \([^)]*\) =>\s*(?:new RegExp\()?`([^`]*)`", index)
        return raw.group(1).replace("\\\\", "\\")

    return dump(
        {
            "source": ctx.origin(),
            "protocolVersions": {"ONE": parse_js_literal(one), "TWO": parse_js_literal(two)},
            "supportedVersionExtensionList": parse_js_literal(
                js_const(index, "protocolVersionsMap")
            ),
            "contentTypeRegexTemplate": template("generateContentTypeRegex"),
            "singleAcceptRegexTemplate": template("generateSingleAcceptRegexStr"),
            "methodsRequiringAccept": parse_js_literal(
                re.search(r"const methodRequiresAccept = (\[[^\]]*\])", plugin).group(1)
            ),
            "dateFormat": re.search(r"\.format\('([^']*)'\)", plugin).group(1),
            "missingDateMessage": re.search(
                r"MISSING_ELEMENT, '(Missing required date header)'", plugin
            ).group(1),
            "invalidDateMessage": re.search(
                r"MALFORMED_SYNTAX, '(Invalid date header)'", plugin
            ).group(1),
            "errorMessages": parse_js_literal(js_const(constants, "errorMessages")),
        }
    )


def t_mojaloop_examples(ctx) -> bytes:
    """Backtick-quoted values that follow a label in the notes, taken verbatim."""
    md = ctx.member_text()

    def after(label: str, opener: str = "`") -> str:
        start = md.index(label) + len(label)
        rest = md[md.index(opener, start) + len(opener) :]
        return rest[: rest.index("`")]

    sentence = md[md.index("deserialisation returns amount") :]
    sentence = sentence[: sentence.index(")")]
    amount, expires_at, destination = sentence.split("`")[1::2]
    return dump(
        {
            "source": ctx.origin(),
            "duplicateHash": {
                "what": "Mojaloop's duplicate-check hash of a compact prepare body, keys in "
                "the order given; <see §9> stands for ilpV4Prepare.ilpPacket",
                "bodyTemplate": after("Verified example", "\n`"),
                "hash": after("Verified example", "→ hash `"),
            },
            "ilpV4Prepare": {
                "what": "an ILPv4 Prepare as Mojaloop's SDK builds it, and the fulfilment "
                "its payee derives from the secret",
                "ilpPacket": after("* ilpPacket (base64url, 948 chars; 711-byte packet):"),
                "amount": amount,
                "expiresAt": expires_at,
                "destination": destination,
                "secret": after("* secret:"),
                "transactionObjectSortedJson": after("* transactionObject (sorted JSON):"),
                "fulfilment": after("* fulfilment:"),
                "condition": after("* condition:"),
            },
        }
    )


TRANSFORMS = {
    "error-catalogue": t_error_catalogue,
    "currencies": t_currencies,
    "seed": t_seed,
    "header-rules": t_header_rules,
    "mojaloop-examples": t_mojaloop_examples,
}


# ---------------------------------------------------------------------------------- sources


class Sources:
    def __init__(self, config: dict, upstream: Path | None):
        self.by_id = {s["id"]: s for s in config["source"]}
        self.upstream = upstream
        self.tarballs: dict[str, tarfile.TarFile] = {}
        self.read: dict[str, str] = {}  # id -> sha256 checked

    def tarball(self, sid: str) -> tarfile.TarFile:
        if sid not in self.tarballs:
            src = self.by_id[sid]
            name = src["package"].split("/")[-1]
            url = f"{REGISTRY}/{src['package']}/-/{name}-{src['version']}.tgz"
            with urllib.request.urlopen(url, timeout=120) as response:
                data = response.read()
            if sha256(data) != src["sha256"]:
                fail(f"{src['package']}@{src['version']}: sha256 {sha256(data)} != {src['sha256']}")
            self.read[sid] = src["sha256"]
            self.tarballs[sid] = tarfile.open(fileobj=io.BytesIO(data))
        return self.tarballs[sid]

    def member(self, sid: str, member: str) -> bytes:
        return self.tarball(sid).extractfile(member).read()

    def file(self, sid: str, name: str | None = None) -> bytes:
        src = self.by_id[sid]
        if self.upstream is None:
            fail(f"{sid} is a file source: pass --upstream DIR holding {src['path']}")
        path = self.upstream / src["path"]
        if name is None:
            data = path.read_bytes()
            expected = src["sha256"]
        else:
            data = (path / name).read_bytes()
            expected = dict(src["files"])[name]
        if sha256(data) != expected:
            fail(f"{path / (name or '')}: sha256 {sha256(data)} != {expected}")
        self.read[sid] = src["sha256"]
        return data

    def bytes_of(self, sid: str, member: str | None) -> bytes:
        if self.by_id[sid]["kind"] == "npm":
            return self.member(sid, member)
        return self.file(sid)


class Context:
    def __init__(self, sources: Sources, output: dict):
        self.sources = sources
        self.output = output
        self.source = sources.by_id[output["source"]]

    def member_text(self, member: str | None = None) -> str:
        return self.sources.bytes_of(self.source["id"], member or self.output.get("member")).decode()

    def other_text(self, sid: str) -> str:
        return self.sources.bytes_of(sid, None).decode()

    def origin(self) -> str:
        return origin_of(self.source, self.output.get("member"))

    def origin_of(self, sid: str) -> str:
        return origin_of(self.sources.by_id[sid])


def needs_upstream(sources: Sources, output: dict) -> bool:
    ids = [output["source"], *output.get("with", [])]
    return any(sources.by_id[i]["kind"] == "file" for i in ids)


def produce(sources: Sources, output: dict) -> dict[str, bytes]:
    """Relative path -> bytes for one output entry (a folder gives several files)."""
    ctx = Context(sources, output)
    transform = output["transform"]
    if transform == "copy":
        return {output["path"]: sources.bytes_of(ctx.source["id"], output.get("member"))}
    if transform == "copy-dir":
        return {
            f"{output['path']}/{name}": sources.file(ctx.source["id"], name)
            for name, _ in ctx.source["files"]
        }
    return {output["path"]: TRANSFORMS[transform](ctx)}


# ------------------------------------------------------------------------------------ verbs


def fetch(upstream: Path | None) -> None:
    config = tomllib.loads(SOURCES.read_text())
    sources = Sources(config, upstream)
    files: dict[str, dict] = {}
    previous = json.loads(LOCK.read_text())["files"] if LOCK.exists() else {}
    for output in config["output"]:
        if upstream is None and needs_upstream(sources, output):
            # Without the folder of file sources, keep what was extracted from them before.
            kept = {p: e for p, e in previous.items() if p == output["path"] or p.startswith(output["path"] + "/")}
            files.update(kept)
            continue
        for path, data in produce(sources, output).items():
            target = ROOT / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files[path] = {
                "sha256": sha256(data),
                "source": output["source"],
                "transform": output["transform"],
            }
    lock = {
        "what": "every file under a testdata/ folder, as scripts/testdata/extract.py wrote it",
        "sources": {
            sid: {k: v for k, v in src.items() if k not in ("id", "files")}
            for sid, src in sources.by_id.items()
        },
        "files": dict(sorted(files.items())),
    }
    LOCK.write_text(json.dumps(lock, indent=1) + "\n")
    print(f"testdata: wrote {len(files)} files from {len(sources.read)} sources")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    f = verbs.add_parser("fetch", help="fetch, check and extract every source")
    f.add_argument(
        "--upstream",
        type=Path,
        help="folder holding the `file` sources (without it, only npm sources are re-extracted)",
    )
    args = parser.parse_args()
    fetch(args.upstream)


if __name__ == "__main__":
    main()
