"""Set keys of the `gateway:` section in a config file's text, keeping everything
else byte for byte (comments included). Pure.

Used by `ctoops install systemd --write-config` to write the restart_command
that matches the installed restart way. A YAML round trip would drop every
comment, and the config's comments are its documentation, so this edits lines
and then proves the edit: the result must parse, carry the new values, and
leave every other key exactly as it was; anything else is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from ctoops.errors import UsageError

_HEADER = re.compile(r"^gateway:[ \t]*(#.*)?$")
_ANY_GATEWAY = re.compile(r"^gateway[ \t]*:")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def set_gateway_keys(text: str, keys: dict[str, Any], source: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = [i for i, line in enumerate(lines) if _ANY_GATEWAY.match(line)]
    if not headers:
        new = "".join(lines) + ("\n" if lines else "") + "gateway:\n" + "".join(
            f"  {k}: {json.dumps(v)}\n" for k, v in keys.items())
        return _proved(text, new, keys, source)
    if len(headers) > 1 or not _HEADER.match(lines[headers[0]].rstrip("\n")):
        raise UsageError(f"{source}: the gateway section is not a plain block ('gateway:' on "
                         "its own line, once); add the keys by hand")
    start = headers[0] + 1
    end = start
    while end < len(lines) and (not _is_content(lines[end]) or _indent(lines[end]) > 0):
        end += 1
    block = lines[start:end]
    body = [line for line in block if _is_content(line)]
    indent = " " * (_indent(body[0]) if body else 2)
    for key, value in keys.items():
        new_line = f"{indent}{key}: {json.dumps(value)}\n"
        at = next((i for i, line in enumerate(block)
                   if _is_content(line) and _indent(line) == len(indent)
                   and line.strip().startswith(f"{key}:")), None)
        if at is None:
            block.insert(0, new_line)
            continue
        stop = at + 1  # a block-style value continues on deeper or "- " lines
        while stop < len(block) and _is_content(block[stop]) and (
                _indent(block[stop]) > len(indent) or block[stop].lstrip().startswith("- ")):
            stop += 1
        block[at:stop] = [new_line]
    new = "".join(lines[:start] + block + lines[end:])
    return _proved(text, new, keys, source)


def _proved(old: str, new: str, keys: dict[str, Any], source: str) -> str:
    """The edit did exactly what it should, or nothing is written."""
    try:
        before = yaml.safe_load(old) or {}
        after = yaml.safe_load(new) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML ({exc}); fix it first") from exc
    if not isinstance(before, dict) or not isinstance(after, dict):
        raise UsageError(f"{source}: expected a mapping of sections")
    gw_before, gw_after = before.get("gateway") or {}, after.get("gateway") or {}
    if not isinstance(gw_before, dict) or not isinstance(gw_after, dict):
        raise UsageError(f"{source}: the gateway section is not a mapping; fix it first")
    gw_before = dict(gw_before)
    for key, value in keys.items():
        gw_before[key] = value
    others_same = {k: v for k, v in before.items() if k != "gateway"} == \
        {k: v for k, v in after.items() if k != "gateway"}
    if gw_after != gw_before or not others_same:
        raise UsageError(f"{source}: could not set {sorted(keys)} without touching other keys; "
                         "add them by hand")
    return new
