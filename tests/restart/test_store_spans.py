"""The legacy store scanner: exact spans, and a refusal for anything the gateway
would not read back as written (R13 step 2: never hand it a broken file)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.probes.openclaw import store_spans
from ctoops.probes.openclaw.store_spans import StoreUnreadable, scan_bytes


def _members(data: bytes) -> dict[str, bytes]:
    scan = scan_bytes(data)
    return {e.key: data[e.start:e.end] for e in scan.entries}


def test_r13_spans_cover_each_member_exactly_in_gateway_format() -> None:
    store = {"agent:a:main": {"sessionId": "s1", "updatedAt": 5, "status": "running"},
             "agent:a:cron:j:run:r1": {"sessionId": "r1", "spawnedBy": "x", "n": [1, 2]}}
    data = json.dumps(store, indent=2).encode()
    scan = scan_bytes(data)
    assert [e.key for e in scan.entries] == list(store)
    assert data[:scan.head_end] == b"{\n  "
    assert data[scan.tail_start:] == b"\n}"
    first, second = scan.entries
    assert data[first.start:first.end].startswith(b'"agent:a:main": {')
    assert data[second.start:second.end].endswith(b"]\n  }")
    assert (first.session_id, first.updated_at_ms, first.status) == ("s1", 5.0, "running")
    assert second.spawned_by == "x"


def test_r13_entry_longer_than_the_decode_window_is_read_whole(monkeypatch) -> None:
    monkeypatch.setattr(store_spans, "_WINDOW_START", 16)
    monkeypatch.setattr(store_spans, "_WINDOW_MIN", 16)
    big = "é🦞\"\\\u2028" * 5000
    data = json.dumps({"k1": {"p": big}, "k2": 12345678901234567890}, ensure_ascii=False).encode()
    members = _members(data)
    assert json.loads(b"{" + members["k1"] + b"}")["k1"]["p"] == big
    assert members["k2"] == b'"k2": 12345678901234567890'


def test_r13_number_cut_by_the_window_edge_is_not_shortened(monkeypatch) -> None:
    monkeypatch.setattr(store_spans, "_WINDOW_START", 4)
    monkeypatch.setattr(store_spans, "_WINDOW_MIN", 1)
    data = b'{"a": 1, "b": 123456789012345, "c": -1.5e-7}'
    assert _members(data) == {"a": b'"a": 1', "b": b'"b": 123456789012345',
                              "c": b'"c": -1.5e-7'}


def test_r13_empty_store_scans_to_no_entries() -> None:
    scan = scan_bytes(b" {\n}\n")
    assert scan.entries == ()


@pytest.mark.parametrize("raw, why", [
    (b"", "not a JSON object"),
    (b"[]", "not a JSON object"),
    (b"\xef\xbb\xbf{}", "not a JSON object"),  # a BOM: the gateway's JSON.parse rejects it
    (b'{"a": {"b": 1', "not valid JSON"),  # truncated (a crash mid-write)
    (b'{"a": {"b": 1}', "expected ','"),  # truncated after a whole entry
    (b'{"a": 1,}', "key string"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": 1} x', "after the object"),
    (b'{"a": 1}{}', "after the object"),
    (b'{"a": 1, "a": 2}', "duplicate"),
    (b'{"a": "\xff"}', "UTF-8"),
    (b'{"a": "x\ny"}', "not valid JSON"),  # a raw control character in a string
    (b'{a: 1}', "key string"),
])
def test_r13_store_the_gateway_would_read_as_empty_is_refused(raw: bytes, why: str) -> None:
    with pytest.raises(StoreUnreadable, match=why):
        scan_bytes(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _json, max_size=6),
       st.sampled_from([None, 2, "\t"]), st.booleans())
def test_r13_spans_rebuild_the_file_byte_for_byte(store, indent, ascii_only) -> None:
    data = json.dumps(store, indent=indent, ensure_ascii=ascii_only).encode()
    scan = scan_bytes(data)
    rebuilt = bytearray(data[:scan.head_end])
    for i, e in enumerate(scan.entries):
        if i:
            rebuilt += data[scan.entries[i - 1].end:e.start]
        rebuilt += data[e.start:e.end]
    rebuilt += data[scan.tail_start:]
    assert bytes(rebuilt) == data
    assert [e.key for e in scan.entries] == list(store)
