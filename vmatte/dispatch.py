"""`vmatte.convert()`, what `vmatte convert` runs: checks every option and path before the model loads, then
hands the input to its driver: a photo or photo folder (vmatte.photos), workers or Ray (vmatte.scale), a
folder of videos (here, clip by clip), or one clip (vmatte.clip)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .clip import convert_clip
from .errors import VmatteError
from .io.atomic import check_folder, check_writable, guard_paths, make_folder
from .io.encoding import encoding_for
from .io.frames import check_size
from .io.sequences import is_pattern
from .io.sinks import is_image_target
from .io.sources import open_source
from .options import MattingOptions, OutputOptions, ScaleOptions, is_url
from .optionspec import reject_unknown
from .pipeline import BatchSummary, Summary
from .recipe import Recipe
from .roles import DEFAULT_EXT, LAYOUT, VIDEO_EXTS, is_folder, output_names, place, requested, stem
from .weights import resolve_device


def split_options(options: dict[str, Any]) -> tuple[MattingOptions, OutputOptions, ScaleOptions]:
    """The keyword options of convert(), checked (see vmatte.options for every name, range and default)."""
    reject_unknown(options, MattingOptions, OutputOptions, ScaleOptions)
    return MattingOptions.pick(options), OutputOptions.pick(options), ScaleOptions.pick(options)


def _targets(out: OutputOptions) -> tuple[dict[str, str], set[str]]:
    """role -> output path, and the roles whose path names a folder (roles.is_folder)."""
    given = requested(out, "clip")
    if not given and out.report is None:
        raise VmatteError("no output asked for; add --rgba PATH, --matte PATH, --composite PATH or -o PATH")
    return given, {r for r, p in given.items() if is_folder(p)}


def _check_target(role: str, target: str, out: OutputOptions) -> None:
    """Refuse an output type or codec setting now, before the model loads."""
    if is_image_target(target):
        if not is_pattern(target):
            raise VmatteError(f"{target}: an image sequence needs a frame-number pattern, e.g. name_%06d.png")
        return
    encoding_for(target, LAYOUT[role], **out.encoder_settings())


def convert(input: str | Path, **options: Any) -> Summary | BatchSummary:
    """Matte a video file or URL, an image sequence, a folder of videos, a photo or a folder of photos
    (vmatte.photos: a folder of images into output folders) into the requested outputs.

    Outputs: rgba (straight alpha + predicted foreground colour), matte (alpha only), composite (over
    `background`: colour, image, video or blur[:sigma]; default green), foreground (predicted colour);
    `output` picks a role by extension; `report` writes the HTML quality report. Every option of
    `vmatte.options.MattingOptions` and `OutputOptions` is taken by name and checked there first: a bad
    value raises VmatteError before any model loads. Returns a Summary (frames, seconds, fps, cuts), or a
    BatchSummary for a folder.
    """
    if isinstance(input, bytes) or not isinstance(input, (str, os.PathLike)) or not str(input).strip():
        raise VmatteError(f"input: give a file, folder or URL as a str or pathlib.Path, not "
                          f"{type(input).__name__} {input!r:.60}")
    input = os.fspath(input)
    matting, out, scale = split_options(options)
    parallel = scale.workers > 1 or scale.ray is not None
    if parallel:
        from .scale import check

        check(scale)
    from . import photos

    if photos.is_photo_input(input, out):  # --effort: still mode is already a photo's best measured setting
        return photos.convert(input, matting, out)
    targets, folders = _targets(out)
    for role, target in targets.items():
        if role not in folders:
            _check_target(role, target, out)
        else:
            _check_target(role, "x" + DEFAULT_EXT[role], out)
            check_folder(Path(target))
    if out.report is not None:
        check_writable(Path(out.report))
    recipe = Recipe(matting)
    recipe.check_background()  # an unreadable image or video backdrop is refused before the model loads
    backdrop = recipe.backdrop_file
    src_dir = None if is_url(input) else Path(input)
    if src_dir is not None and src_dir.is_dir() and any(q.suffix.lower() in VIDEO_EXTS for q in src_dir.iterdir()):
        if out.report is not None:
            raise VmatteError("--report takes one clip, not a folder")
        if folders != set(targets):
            raise VmatteError("with an input folder, outputs must be folders (end the path with /)")
        guard_paths([backdrop], {f"--{r}": Path(p) / f"x{DEFAULT_EXT[r]}" for r, p in targets.items()}, src_dir)
        return _convert_folder(src_dir, {r: Path(p) for r, p in targets.items()}, recipe, out,
                               scale if parallel else None)
    paths = place(targets, "clip", stem(input))
    report = {"--report": out.report} if out.report else {}
    guard_paths([input, backdrop], {**{f"--{r}": p for r, p in paths.items()}, **report},
                src_dir if src_dir is not None and src_dir.is_dir() else None)
    recipe.check_input(input, out.stream)
    if parallel and (src_dir is None or src_dir.is_file()):
        from .scale import convert_jobs

        for r in folders:
            make_folder(paths[r].parent)
        result = convert_jobs([(str(input), paths)], matting, out, scale)[str(input)]
        if isinstance(result, Exception):
            raise result
        return result
    with open_source(input, fps=out.fps, stream=out.stream, device=resolve_device(matting.device)) as source:
        check_size(source.info, out.max_pixels)
        for r in folders:  # one clip into a folder: named after the clip
            make_folder(paths[r].parent)
        return convert_clip(source, paths, recipe, out)


def _convert_folder(folder: Path, targets: dict[str, Path], recipe: Recipe, out: OutputOptions,
                    scale: ScaleOptions | None = None) -> BatchSummary:
    """Every video in `folder`; outputs go inside the output folders, complete ones are skipped. With
    `scale`, on its workers (vmatte.scale)."""
    for target in targets.values():
        make_folder(target)
    matting = recipe.matting
    if scale is None:
        recipe.model  # noqa: B018 - loaded now: a network that cannot load stops the run, not each clip
    result, jobs = BatchSummary(), []
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    names = output_names(videos)
    for video in videos:
        finals = {}
        for role, target in targets.items():
            final = target / f"{names[video]}{DEFAULT_EXT[role]}"
            if final.resolve().parent != target.resolve():
                result.failed[str(video)] = f"output name for {video.name} would leave {target}"
                break
            finals[role] = final
        else:
            if all(f.exists() for f in finals.values()):
                result.skipped.append(str(video))
                continue
            todo = {r: f for r, f in finals.items() if not f.exists()}
            if scale is not None:
                jobs.append((str(video), todo))
                continue
            try:
                recipe.check_input(str(video))
                with open_source(video, device=resolve_device(matting.device)) as source:
                    check_size(source.info, out.max_pixels)
                    result.done[str(video)] = convert_clip(source, todo, recipe, out)
            except VmatteError as e:
                result.failed[str(video)] = str(e)
            except Exception as e:  # a bug must not stop the rest of the batch; the file is reported
                result.failed[str(video)] = f"internal error ({type(e).__name__}: {e}); please report it"
    if jobs:
        from .scale import convert_jobs

        for name, r in convert_jobs(jobs, matting, out, scale).items():
            if isinstance(r, VmatteError):
                result.failed[name] = str(r)
            elif isinstance(r, Exception):
                result.failed[name] = f"internal error ({type(r).__name__}: {r}); please report it"
            else:
                result.done[name] = r
    return result
