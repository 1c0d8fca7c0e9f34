"""Photos: one picture, or a folder of them, each matted on its own, in a still mode.

A photo has no temporal context, so the recurrent state is settled on the photo itself (`still_passes`,
default 8) and the network runs at a larger internal scale than video (`recipe.STILL_SHORT_SIDE`), both chosen
by benchmarks/still_mode.py against the P3M portraits (mean MAD x1e3 against P3M-Net's mattes 7.07,
video mode 17.43); `still_flip` also averages the mirrored photo. Outputs: `--rgba` .png (8-bit, 16-bit for 16-bit
sources), .webp (alpha) or .tif (16-bit); `--composite` flattened over `--background` (default white)
as .jpg (`--quality`), .png or .webp; `--matte` 16-bit .png or .tif; `--foreground`. A folder of photos
gives outputs with the same names in the output folders; finished ones are skipped on a rerun.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .errors import VmatteError
from .io.atomic import check_folder, check_writable, make_folder
from .io.stills import animated, check_photo_target, frame_count, read_photo, readable_exts, write_photo
from .options import MattingOptions, OutputOptions, is_url
from .recipe import Recipe
from .roles import EXTENSIONS, LAYOUT, VIDEO_EXTS, is_folder, output_names, place, requested

ROLE_EXT = EXTENSIONS["photo"]


def is_photo_input(input: Any, out: OutputOptions) -> bool:
    """A single still image file (an animated GIF or APNG is a clip, which FFmpeg decodes); or a folder of
    images when every output asked for is a folder."""
    if is_url(input):
        return False
    p, exts = Path(input), readable_exts()
    if p.is_file():
        clip = p.suffix.lower() in (".gif", ".png", ".apng") and frame_count(p) > 1
        return p.suffix.lower() in exts and not clip
    if not p.is_dir() or not any(q.suffix.lower() in exts for q in p.iterdir()):
        return False
    given = [v for v in (out.rgba, out.matte, out.composite, out.foreground, out.output) if v]
    return bool(given) and all(is_folder(v) for v in given)


def _targets(out: OutputOptions) -> dict[str, str]:
    given = requested(out, "photo")
    if not given:
        raise VmatteError("no output asked for; add --rgba PATH, --matte PATH, --composite PATH or -o PATH")
    if out.report is not None:
        raise VmatteError("--report is for clips; a photo has no temporal stability to report")
    return given


def convert(input: str | Path, matting: MattingOptions, out: OutputOptions):
    """Matte one photo (returns a Summary) or a folder of photos (returns a BatchSummary)."""
    from .io.atomic import guard_paths
    from .pipeline import BatchSummary, Summary

    targets = _targets(out)
    src = Path(input)
    recipe = Recipe(matting, "photo")
    recipe.check_background("composite" in targets)  # unreadable: refused before matting
    if src.is_file():
        folders = {r for r, p in targets.items() if is_folder(p)}
        paths = place(targets, "photo", src.stem)
        guard_paths([src, recipe.backdrop_file], {f"--{r}": p for r, p in paths.items()})
        for r, p in paths.items():  # before the photo is read or the model loaded
            check_photo_target(p, LAYOUT[r])
        for r in folders:  # one photo into a folder: named after the photo
            make_folder(paths[r].parent)
        for p in paths.values():
            check_writable(p)
        photo = read_photo(src, out.max_pixels)
        t0 = time.perf_counter()
        _matte_one(photo, paths, Still(recipe, out), out)
        seconds = time.perf_counter() - t0
        return Summary(1, seconds, 1 / seconds if seconds else 0.0, photo=True)
    folders = {r: Path(p) for r, p in targets.items()}
    guard_paths([], {f"--{r}": p / f"x{ROLE_EXT[r]}" for r, p in folders.items()}, src)
    for f in folders.values():
        check_folder(f)
    still, result = Still(recipe, out), BatchSummary()  # the model loads before any folder is made
    made = [f for f in dict.fromkeys(folders.values()) if not f.exists()]
    for f in folders.values():
        make_folder(f)
    try:
        return _matte_folder(src, folders, still, result, out)
    finally:
        for f in made:  # folders this run made and left empty (every photo failed, or it was stopped)
            if f.is_dir() and not any(f.iterdir()):
                f.rmdir()


def _matte_folder(src: Path, folders: dict[str, Path], still: Still, result, out: OutputOptions):
    from .pipeline import Summary, progress_bar

    names, result.ignored = folder_photos(src)
    stems = output_names(names)
    bar = progress_bar(len(names), out.progress and not out.quiet, unit="photo")  # a terminal's stderr only
    for q in names:
        if bar is not None:
            bar.update(1)
        finals = {r: folder / f"{stems[q]}{ROLE_EXT[r]}" for r, folder in folders.items()}
        if all(f.exists() for f in finals.values()):
            result.skipped.append(str(q))
            continue
        try:
            s0 = time.perf_counter()
            _matte_one(read_photo(q, out.max_pixels), {r: f for r, f in finals.items() if not f.exists()}, still,
                       out)
            took = time.perf_counter() - s0
            result.done[str(q)] = Summary(1, took, 1 / took if took else 0.0)
        except VmatteError as e:
            result.failed[str(q)] = str(e)
    if bar is not None:
        bar.close()
    return result


def folder_photos(folder: Path) -> tuple[list[Path], dict[str, str]]:
    """The still photos of a folder, in name order, and each other file with why it is passed over (hidden
    files and subfolders are passed over in silence)."""
    exts, photos, ignored = readable_exts(), [], {}
    for q in sorted(folder.iterdir()):
        if q.name.startswith(".") or not q.is_file():
            continue
        ext = q.suffix.lower()
        if ext in exts and (frames := frame_count(q)) > 1:
            ignored[str(q)] = animated(q, frames)
        elif ext in exts:
            photos.append(q)
        elif ext in VIDEO_EXTS:
            ignored[str(q)] = f"a video, not a photo; matte it on its own: vmatte convert {q.name} -o OUT.mov"
        else:
            ignored[str(q)] = "not an image this vmatte reads (" + (ext or "no extension") + ")"
    return photos, ignored


class Still:
    """A photo's matte in still mode: the recipe's network (loaded once, here), one Matter per internal
    ratio (photos differ in size), the state settled on the photo itself (`still_passes`), and with
    `still_flip` the mirrored photo averaged in."""

    def __init__(self, recipe: Recipe, out: OutputOptions) -> None:
        self.recipe, self.passes, self.flip = recipe, out.still_passes, out.still_flip
        recipe.model  # noqa: B018 - loaded now, before any output folder is made
        self.matters: dict[float, Any] = {}

    def __call__(self, image):
        from .engine import Matte

        h, w = image.shape[:2]
        ratio = self.recipe.ratio(w, h)
        if ratio not in self.matters:
            self.matters[ratio] = self.recipe.matter(ratio)
        matter = self.matters[ratio]
        mattes = []
        for im in (image, np.ascontiguousarray(image[:, ::-1])) if self.flip else (image,):
            matter.reset()  # every photo (and its mirror) on its own
            for _ in range(self.passes):
                matter.settle(im)
            mattes.append(matter(im))
        if len(mattes) == 1:
            return mattes[0]
        a, b = mattes
        return Matte(a.src, (a.fgr + b.fgr.flip(-1)) / 2, (a.pha + b.pha.flip(-1)) / 2)


def _matte_one(photo, paths: dict[str, Path], still: Still, out: OutputOptions) -> None:
    from .compose import render
    from .pixels import to_array

    m = still(photo.image)
    edges = still.recipe.edges()
    if edges:
        m = edges.apply(m)
    bg = still.recipe.background() if "composite" in paths else None
    deep = photo.image.dtype.itemsize == 2
    for role, path in paths.items():
        ext = path.suffix.lower()
        bits = 16 if ext in (".tif", ".tiff") or (ext == ".png" and (deep or role == "matte")) else 8
        write_photo(path, to_array(render(role, m, bg, 0), bits), LAYOUT[role], photo.icc, out.quality)
