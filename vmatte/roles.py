"""The output roles a run can write, and what each is made of, and how a folder run names its outputs: a
leaf module (no vmatte imports), so that the dispatcher, one-clip conversion, photos and scale-out all read
one table.

rgba: straight alpha with the predicted foreground colour; matte: alpha alone; composite: the person over a
background; foreground: the predicted foreground colour, no alpha."""
from __future__ import annotations

from pathlib import Path

LAYOUT = {"rgba": "rgba", "matte": "gray", "composite": "rgb", "foreground": "rgb"}  # role -> pixels it makes
ROLES = tuple(LAYOUT)
DEFAULT_EXT = {"rgba": ".mov", "matte": ".mkv", "composite": ".mp4", "foreground": ".mp4"}  # a video's, by role
SHORTHAND = {".mov": "rgba", ".webm": "rgba", ".mp4": "composite", ".mkv": "composite", ".png": "rgba"}  # -o EXT
# Files a folder run takes as videos (and a photo folder names when it passes them over).
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf", ".mts", ".m2ts", ".ts", ".flv",
              ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv"}


def output_names(inputs: list[Path]) -> dict[Path, str]:
    """Output names for a folder's inputs: the stem, or the whole name where stems collide, case
    ignored (a.mp4 and a.mkv become a.mp4.mov and a.mkv.mov; a.jpg and A.png a.jpg.png and A.png.png), so
    two inputs never share one output, on case-insensitive disks too."""
    stems = [p.stem.casefold() for p in inputs]
    return {p: p.name if stems.count(p.stem.casefold()) > 1 else p.stem for p in inputs}


def work_folder(output: Path) -> Path:
    """Where a scale-out run keeps the segments of `output` (its job's first output) until they are joined;
    whatever writes that output whole owns the folder a killed run left."""
    return output.parent / f".{output.name.replace('%', '_')}.vmatte-work"
