"""The output resolver: the roles a run can write and what each is made of, the extensions and `-o`
shorthands of clips and photos, the one rule for "this path names a folder", and how a run names its
outputs. The dispatcher, one-clip conversion, photos and scale-out all read these tables (torch-free).

rgba: straight alpha with the predicted foreground colour; matte: alpha alone; composite: the person over a
background; foreground: the predicted foreground colour, no alpha."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import VmatteError
from .options import is_url

LAYOUT = {"rgba": "rgba", "matte": "gray", "composite": "rgb", "foreground": "rgb"}  # role -> pixels it makes
ROLES = tuple(LAYOUT)
# By kind of input: each role's extension in an output folder, and what `-o NAME.EXT` writes.
EXTENSIONS = {
    "clip": {"rgba": ".mov", "matte": ".mkv", "composite": ".mp4", "foreground": ".mp4"},
    "photo": {"rgba": ".png", "matte": ".png", "composite": ".jpg", "foreground": ".png"},
}
SHORTHANDS = {
    "clip": {".mov": "rgba", ".webm": "rgba", ".mp4": "composite", ".mkv": "composite", ".png": "rgba"},
    "photo": {".png": "rgba", ".webp": "rgba", ".tif": "rgba", ".tiff": "rgba", ".jpg": "composite",
              ".jpeg": "composite"},
}
SHORTHAND_HINTS = {
    "clip": "unknown output type {ext!r}; use .mov/.webm (alpha), .mp4/.mkv (composite) or a %06d.png pattern",
    "photo": "for a photo use .png/.webp/.tif (cut out) or .jpg (flattened)",
}
DEFAULT_EXT = EXTENSIONS["clip"]  # a video's, by role
# Files a folder run takes as videos (and a photo folder names when it passes them over).
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf", ".mts", ".m2ts", ".ts", ".flv",
              ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv"}


def is_folder(path: str | Path) -> bool:
    """Whether an output path names a folder: it ends with a slash ('OUT/'), or is an existing folder."""
    return str(path).endswith(("/", "\\")) or Path(path).is_dir()


def requested(out: Any, kind: str) -> dict[str, str]:
    """role -> path as given, for a `kind` ('clip' or 'photo') of input, from OutputOptions `out`: --rgba,
    --matte, --composite, --foreground, and -o by its extension (a role given by name wins). Refuses an
    -o it cannot place; an empty answer means no output was asked for."""
    given = {r: getattr(out, r) for r in ROLES if getattr(out, r)}
    if out.output is not None:
        ext = Path(out.output).suffix
        role = SHORTHANDS[kind].get(ext.lower())
        if role is None:
            raise VmatteError(f"-o {out.output}: " + SHORTHAND_HINTS[kind].format(ext=ext or "(none)"))
        given.setdefault(role, out.output)
    return given


def stem(input: str | Path) -> str:
    """What a clip's outputs are named after inside an output folder: a file's or URL's name without its
    extension ('clip' for a URL with no name); an image sequence's pattern with '%' made '_'."""
    text = str(input)
    if not is_url(text) and not Path(text).is_file():
        return Path(text).name.replace("%", "_")
    last = text.split("?")[0].rstrip("/").rsplit("/", 1)[-1]  # a URL's too, without making it a Path
    return (last.rsplit(".", 1)[0] if "." in last else last) or "clip"


def place(given: dict[str, str], kind: str, name: str) -> dict[str, Path]:
    """role -> the file to write: a path as given, or inside a folder path, `name` plus the role's extension."""
    return {r: Path(p) / f"{name}{EXTENSIONS[kind][r]}" if is_folder(p) else Path(p) for r, p in given.items()}


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
