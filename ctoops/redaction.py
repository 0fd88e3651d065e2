"""Keep secrets (webhook URLs, tokens) out of everything ctoops writes or prints.

Two nets: the exact values ctoops knows are secret (registered when the config
and the token are loaded), and patterns that look like Discord webhooks or bot
tokens wherever they come from (an error message, a gateway log line).
"""

from __future__ import annotations

import re
from typing import Any

_known: set[str] = set()
_PATTERNS = [
    re.compile(r"https?://[^\s\"']*/api(?:/v\d+)?/webhooks/\d+/[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bot|bearer)\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"(?i)((?:token|secret|password|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
]


def register(value: str) -> None:
    """Remember a secret value so scrub() removes it wherever it appears."""
    if value and len(value) >= 6:
        _known.add(value)


def mask(value: str) -> str:
    """How a secret is shown: only its last four characters, `…/abcd`."""
    if not value:
        return ""
    return "…/" + value[-4:] if len(value) > 8 else "…"


def scrub(text: str) -> str:
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, mask(value))
    text = _PATTERNS[0].sub(lambda m: "[webhook " + mask(m.group(0)) + "]", text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + "[redacted]", text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + "[redacted]", text)


def scrub_obj(obj: Any) -> Any:
    """scrub() applied to every string inside a JSON-like value."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, list):
        return [scrub_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return [scrub_obj(v) for v in obj]
    if isinstance(obj, dict):
        return {k: scrub_obj(v) for k, v in obj.items()}
    return obj
