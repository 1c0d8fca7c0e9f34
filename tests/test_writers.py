"""Every writer shows nothing at its final path until it commits, and refuses to commit a file that
does not read back whole."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from readback import video_pts
from vmatte.errors import VmatteError
from vmatte.io.frames import SourceInfo
from vmatte.io.sinks import open_sink

INFO = SourceInfo("t", 64, 48, Fraction(25), Fraction(1, 25))
TARGETS = [("rgba", "o.mov"), ("rgba", "o.webm"), ("rgba", "o.mkv"), ("gray", "m.mkv"), ("rgb", "c.mp4"),
           ("rgb", "c.mov"), ("rgba", "p_%03d.png"), ("gray", "g_%03d.png")]


def frame(layout: str, bits: int, i: int) -> np.ndarray:
    c = {"rgba": 4, "rgb": 3, "gray": 1}[layout]
    peak = 255 if bits == 8 else 65535
    return np.full((48, 64, c), (i * 20) % peak, np.uint8 if bits == 8 else np.uint16)


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("layout,name", TARGETS, ids=[n for _, n in TARGETS])
def test_nothing_at_the_final_path_until_commit(tmp_path, layout, name):
    sink = open_sink(tmp_path / name, layout, INFO, audio=False)
    for i in range(5):
        sink.write(frame(layout, sink.bits, i), i)
    assert visible(tmp_path) == []  # only hidden temporaries while writing
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    sink.close()
    names = visible(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    if "%" in name:
        assert names == [name % i for i in range(5)]
    else:
        assert names == [name] and len(video_pts(tmp_path / name)[0]) == 5


@pytest.mark.parametrize("layout,name", TARGETS, ids=[n for _, n in TARGETS])
def test_abort_leaves_nothing(tmp_path, layout, name):
    sink = open_sink(tmp_path / name, layout, INFO, audio=False)
    sink.write(frame(layout, sink.bits, 0), 0)
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_does_not_read_back_whole_is_not_committed(tmp_path, monkeypatch):
    """A packet lost between the encoder and the file (here: dropped on purpose) is caught by the
    read-back before the rename; an older file at the path is kept."""
    (tmp_path / "o.mov").write_bytes(b"the editor's previous version")
    sink = open_sink(tmp_path / "o.mov", "rgba", INFO, audio=False)
    mux_all, seen = sink._mux_all, []

    def lossy(packets):
        kept = []
        for p in packets:
            seen.append(p)
            if len(seen) != 3:
                kept.append(p)
        mux_all(kept)

    monkeypatch.setattr(sink, "_mux_all", lossy)
    for i in range(6):
        sink.write(frame("rgba", sink.bits, i), i)
    with pytest.raises(VmatteError, match="read back with 5 of 6 frames"):
        sink.close()
    sink.abort()
    assert (tmp_path / "o.mov").read_bytes() == b"the editor's previous version"
    assert visible(tmp_path) == ["o.mov"] and len(list(tmp_path.iterdir())) == 1
