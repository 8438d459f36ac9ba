"""Atomic writes: results appear complete or not at all, with the mode the umask gives."""

import os
import stat

import pytest

from holstein.data.atomic import atomic_path, write_text_atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_get_the_mode_of_a_plain_open(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = tmp_path / "result.json"
        write_text_atomic(path, "{}")
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_a_failed_write_leaves_the_old_result_untouched(tmp_path):
    path = tmp_path / "result.txt"
    write_text_atomic(path, "finished")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]
