"""polymesh_mesh.testing.ready_line: the one reader of a process's ready line."""

from __future__ import annotations

from pathlib import Path

from polymesh_mesh.testing import ready_line


def test_ready_line_is_found_among_other_lines(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    assert ready_line(log) is None  # not written yet
    log.write_text('not json\n[1]\n{"body":"starting"}\n')
    assert ready_line(log) is None
    log.write_text(
        log.read_text()
        + '{"severity":"INFO","body":"ready","address":"127.0.0.1:5","workers":"2"}\n'
    )
    assert ready_line(log) == {
        "severity": "INFO",
        "body": "ready",
        "address": "127.0.0.1:5",
        "workers": "2",
    }


def test_a_ready_line_without_an_address_is_not_one(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    log.write_text('{"body":"ready"}\n')
    assert ready_line(log) is None
