"""Turn an error message into a fingerprint: the same failure, whatever its ids.

A retry storm is one failure repeated; its messages differ only in the parts that
change per attempt (request ids, timestamps, counters, temp paths, quoted values).
Those parts are replaced by placeholders, in an order that lets the specific
patterns win over the general ones (a uuid before hex runs, hex runs before plain
numbers). Pure: no I/O, no state.
"""

from __future__ import annotations

import hashlib
import re

MAX_TEMPLATE_CHARS = 300

_RULES: list[tuple[re.Pattern[str], str]] = [
    # ISO 8601 and syslog-like timestamps, before numbers eat their parts.
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<ts>"),
    # Quoted values: what a quote holds is data, not the shape of the failure.
    (re.compile(r'"(?:[^"\\\n]|\\.)*"'), '"<q>"'),
    (re.compile(r"(?<![A-Za-z0-9])'(?:[^'\\\n]|\\.)*'(?![A-Za-z0-9])"), "'<q>'"),
    (re.compile(r"`[^`\n]*`"), "`<q>`"),
    # URLs, then filesystem paths.
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>)]+", re.IGNORECASE), "<url>"),
    (re.compile(r"(?<![\w.])(?:~|\.{1,2})?(?:/[\w.@%+=,-]+){2,}/?|(?<![\w.])/[\w.@%+=,-]+\.\w+"),
     "<path>"),
    # UUIDs, then prefixed ids (req_1a2b3c4d, run-7f3a9c), then hex runs.
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b([A-Za-z][A-Za-z0-9]*[_-])(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{4,}\b"), r"\1<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    # IPv4 addresses and ports, then any remaining number (with or without a unit).
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?<![A-Za-z<])[-+]?\d+(?:[.,]\d+)*"), "<n>"),
]
_SPACE = re.compile(r"\s+")


def normalise(message: str) -> str:
    """The message with its per-attempt parts replaced by placeholders."""
    text = message.strip()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_TEMPLATE_CHARS]


def fingerprint(origin: str, message: str, explicit: str | None = None) -> tuple[str, str]:
    """(key, template). The key is short and stable (it names the fingerprint in
    the state and in messages); the template is what a person reads. An explicit
    key chosen by the writer of an event wins over the normalised text."""
    template = f"{origin}: {explicit}" if explicit else f"{origin}: {normalise(message)}"
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16], template
