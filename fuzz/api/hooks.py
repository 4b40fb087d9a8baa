"""Schemathesis hooks of `make fuzz-api` (scripts/fuzz-api.sh; docs/reliability.md).

- FSPIOP requests get the headers that let them past header validation to the body and the
  pipeline: FSPIOP-Source of an onboarded DFSP, a current Date, the transfers Content-Type and
  Accept with a version the hub accepts. Header validation itself is fuzzed by cargo-fuzz
  (fuzz/fuzz_targets/fspiop_headers.rs). FSPIOP-Signature, -URI and -HTTP-Method are dropped: the
  hub of `make run` does not verify signatures, and a random signature header would only ever be
  refused with 3105 before the body is read.
- central-ledger's admin document declares no error answers but a `default` (often `type:
  string`, hapi-swagger's placeholder where no schema was given, which central-ledger's JSON
  answers never match), while central-ledger, like ferroloop, answers errors with the FSPIOP error
  object; the hook declares that object for the error statuses and drops the placeholder, so
  error bodies are checked against what the API promises and success bodies against every schema
  the document does give.
- A refused request must change nothing. Before each request that could change state the hook
  takes a snapshot: for the admin API what it shows (participants with their accounts, limits,
  settlement models, approvals), for the FSPIOP API the messages the adapter produced
  (`ferroloop_produced_messages_total` on its /metrics: an accepted request is one message, a
  refused one must be none). The check `refused_requests_change_nothing` compares it with a
  snapshot after any 4xx answer. Requests run one at a time (`--workers 1`), and nothing else
  sends to the hub meanwhile.
"""

import email.utils
import json
import os
import urllib.request

import schemathesis

FSP = os.environ.get("FUZZ_API_FSP", "")
ADMIN_URL = os.environ.get("FUZZ_API_ADMIN_URL", "")
ADMIN_TOKEN = os.environ.get("FUZZ_API_ADMIN_TOKEN", "")
ADAPTER_METRICS_URL = os.environ.get("FUZZ_API_ADAPTER_METRICS_URL", "")
PRODUCED = "ferroloop_produced_messages_total"
TRANSFERS_TYPE = "application/vnd.interoperability.transfers+json"
DROPPED = {"fspiop-signature", "fspiop-uri", "fspiop-http-method", "fspiop-encryption", "content-length"}
# What the admin API shows of its state; compared around refused requests.
SNAPSHOT_PATHS = ["/participants", "/participants/limits", "/settlementModels", "/ledgerAccountTypes", "/approvals"]
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

_before = {}

ERROR_INFORMATION_RESPONSE = {
    "type": "object",
    "required": ["errorInformation"],
    "properties": {
        "errorInformation": {
            "type": "object",
            "required": ["errorCode", "errorDescription"],
            "properties": {
                "errorCode": {"type": "string", "pattern": "^[1-9]\\d{3}$"},
                "errorDescription": {"type": "string", "minLength": 1},
            },
        }
    },
}


ERROR_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "500", "501", "503", "504"]


@schemathesis.hook
def before_load_schema(ctx, raw_schema):
    """Error answers of the admin document's operations: the FSPIOP error object."""
    if raw_schema.get("swagger") != "2.0":
        return
    for path in raw_schema.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            default = responses.get("default")
            # hapi-swagger's placeholder for "no schema given": central-ledger answers JSON there.
            if default and default.get("schema") == {"type": "string"}:
                default["schema"] = {}
            for status in ERROR_STATUSES:
                responses.setdefault(status, {"description": "FSPIOP error", "schema": ERROR_INFORMATION_RESPONSE})


def _is_fspiop(ctx):
    return ctx.operation is not None and ctx.operation.path.startswith("/transfers")


@schemathesis.hook
def map_headers(ctx, headers):
    if not _is_fspiop(ctx):
        return headers
    headers = {k: v for k, v in (headers or {}).items() if k.lower() not in DROPPED}
    for name in list(headers):
        if name.lower() in {"date", "fspiop-source", "content-type", "accept"}:
            del headers[name]
    headers["Date"] = email.utils.formatdate(usegmt=True)
    headers["FSPIOP-Source"] = FSP
    headers["Content-Type"] = f"{TRANSFERS_TYPE};version=1.1"
    headers["Accept"] = f"{TRANSFERS_TYPE};version=1"
    return headers


def _produced():
    with urllib.request.urlopen(ADAPTER_METRICS_URL, timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(PRODUCED))


def _snapshot(ctx):
    if _is_fspiop(ctx):
        return {"produced": _produced()} if ADAPTER_METRICS_URL else {}
    state = {}
    for path in SNAPSHOT_PATHS:
        request = urllib.request.Request(ADMIN_URL + path)
        if ADMIN_TOKEN:
            request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                state[path] = json.load(answer)
        except urllib.error.HTTPError as error:
            state[path] = {"status": error.code}
    return state


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.method.upper() in MUTATING:
        _before[id(case)] = (ctx, _snapshot(ctx))


@schemathesis.check
def refused_requests_change_nothing(ctx, response, case):
    """A 4xx answer to an admin request left the admin API's state as it was."""
    taken = _before.pop(id(case), None)
    if taken is None or not 400 <= response.status_code < 500:
        return None
    hook_ctx, before = taken
    after = _snapshot(hook_ctx)
    changed = [part for part in before if before.get(part) != after.get(part)]
    if changed:
        raise AssertionError(
            f"{case.method} {case.path} answered {response.status_code} but changed {', '.join(changed)}"
        )
    return True
