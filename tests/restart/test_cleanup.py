"""Removing `.deleted` and `.corrupt` leftovers (R13 step 3): exactly those names,
regular files (and symlinks as links) only, never outside the state root."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctoops.actions.cleanup import leftover_kind, remove_leftovers
from tests.restart.helpers import tree_hashes

TS = "2026-05-01T10-20-30.123Z"


def layout(root: Path) -> dict[str, list[Path]]:
    """A state root with every kind of name the step must remove or leave alone."""
    sessions = root / "agents" / "main" / "sessions"
    state = root / "state"
    for d in (sessions, state, sessions / "cold", root / "agents" / "main" / "agent"):
        d.mkdir(parents=True, exist_ok=True)
    remove = [
        sessions / f"abc.jsonl.deleted.{TS}",
        sessions / "abc2.jsonl.deleted.2026-05-01T10-20-30Z",
        sessions / f"abc3.jsonl.deleted.{TS}.{'0' * 32}",
        sessions / f"abc4.jsonl.deleted.{TS}.zst",
        sessions / "sessions.json.corrupt-1780000000000",
        state / "openclaw.sqlite.corrupt-1780000000000",
        state / "openclaw.sqlite-wal.corrupt-1780000000000.1",
        root / "agents" / "main" / "agent" / "openclaw-agent.sqlite-shm.corrupt-1780000000000.2",
    ]
    keep = [
        sessions / "sessions.json",
        sessions / "abc.jsonl",
        sessions / f"abc.jsonl.reset.{TS}",
        sessions / f"abc.jsonl.bak.{TS}",
        sessions / "sessions.json.bak.1780000000000",
        sessions / "sessions.json.ctoops-bak-1780000000000",
        sessions / "sessions.json.corrupt-notanumber",
        sessions / "abc.jsonl.deleted.yesterday",
        sessions / "cold" / f"old.jsonl.deleted.{TS}",  # cold/ is authoritative history
        sessions / "cold" / "x.corrupt-1780000000000",
        state / "openclaw.sqlite",
        state / "openclaw.sqlite-wal",
        state / "openclaw.sqlite-shm",
        root / "agents" / "main" / "agent" / "openclaw-agent.sqlite",
    ]
    for i, path in enumerate(remove + keep):
        path.write_bytes(b"x" * (100 + i))
    return {"remove": remove, "keep": keep}


def test_r13_removes_exactly_deleted_and_corrupt_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "state"
    files = layout(root)
    result = remove_leftovers(str(root), dry_run=False)
    assert result.status == "done"
    assert result.removed == len(files["remove"])
    assert result.by_kind == {"deleted": 4, "corrupt": 4}
    assert result.bytes_freed == sum(100 + i for i in range(len(files["remove"])))
    assert not any(p.exists() for p in files["remove"])
    assert all(p.exists() for p in files["keep"])


def test_r13_symlink_traps_remove_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "state"
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / f"precious.jsonl.deleted.{TS}").write_text("keep me")
    (outside / "folder" / f"inner.jsonl.deleted.{TS}").write_text("keep me too")
    (outside / "folder" / "x.corrupt-1780000000000").write_text("and me")
    before_outside = tree_hashes(outside)
    # a link to a file outside, named like a leftover
    (sessions / f"link.jsonl.deleted.{TS}").symlink_to(outside / f"precious.jsonl.deleted.{TS}")
    # a link to a folder outside, named like a leftover
    (sessions / f"dirlink.deleted.{TS}").symlink_to(outside / "folder")
    # a link to a folder outside with an ordinary name: never entered
    (root / "agents" / "elsewhere").symlink_to(outside / "folder")
    # a real directory named like a leftover: left alone, its ordinary files too
    real_dir = sessions / f"adir.jsonl.deleted.{TS}"
    real_dir.mkdir()
    (real_dir / "notes.txt").write_text("inside a directory with a leftover's name")
    # a dangling link with a leftover's name
    (sessions / "gone.corrupt-1780000000000").symlink_to(tmp_path / "nothing-here")

    result = remove_leftovers(str(root), dry_run=False)

    assert tree_hashes(outside) == before_outside
    assert not (sessions / f"link.jsonl.deleted.{TS}").is_symlink()  # the link itself went
    assert not (sessions / f"dirlink.deleted.{TS}").is_symlink()
    assert not (sessions / "gone.corrupt-1780000000000").is_symlink()
    assert (root / "agents" / "elsewhere").is_symlink()
    assert (real_dir / "notes.txt").exists()
    assert result.removed == 3 and result.bytes_freed == 0
    assert any("a directory" in p for p in result.passed_over)


@pytest.mark.parametrize("setting", ["", "   ", "/", "/nonexistent/ctoops-test-root"])
def test_r13_empty_missing_or_root_state_dir_means_do_nothing(setting: str) -> None:
    result = remove_leftovers(setting, dry_run=False)
    assert result.status == "skipped" and result.removed == 0
    assert "nothing to clean" in result.reason or "refusing" in result.reason


def test_r13_state_dir_that_resolves_to_slash_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rootlink").symlink_to("/")
    result = remove_leftovers(str(tmp_path / "rootlink"), dry_run=False)
    assert result.status == "skipped" and "refusing" in result.reason


def test_r13_ctoops_workspace_inside_the_state_root_is_never_entered(tmp_path: Path) -> None:
    root = tmp_path / "state"
    ws = root / "ctoops-ws" / "memory"
    ws.mkdir(parents=True)
    ours = ws / "orchestration-state.json.corrupt-1780000000000"
    ours.write_text("{}")
    theirs = root / "sessions.json.corrupt-1780000000000"
    theirs.write_text("{")
    result = remove_leftovers(str(root), dry_run=False, exclude=root / "ctoops-ws")
    assert ours.exists() and not theirs.exists() and result.removed == 1


def test_r13_dry_run_cleanup_lists_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "state"
    files = layout(root)
    before = tree_hashes(root)
    result = remove_leftovers(str(root), dry_run=True)
    assert result.status == "would_remove" and result.removed == len(files["remove"])
    assert tree_hashes(root) == before


def test_r13_leftover_names_follow_the_gateway_exactly() -> None:
    assert leftover_kind(f"a.jsonl.deleted.{TS}") == "deleted"
    assert leftover_kind("x.corrupt-1780000000000.12") == "corrupt"
    assert leftover_kind(f"a.jsonl.reset.{TS}") is None
    assert leftover_kind(f"a.jsonl.deleted.{TS}.extra") is None
    assert leftover_kind("x.corrupt-12") is None
    assert leftover_kind("sessions.json.ctoops-bak-1780000000000") is None
