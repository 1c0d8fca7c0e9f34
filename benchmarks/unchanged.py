"""Is every path unchanged, bit for bit, against another checkout (a refactor, or a new mode, must leave
the others as they were)?

Each tree runs, in its own process: `vmatte.convert` of a 720p H.264 portrait clip with a cut to a
16-bit matte (FFV1), ProRes 4444 and an H.264 composite over blur; the same clip at `--effort best` to
ProRes 4444 and a composite over the default background; `vmatte.live` of the same clip (a file source,
not paced) into an FFV1 recording over blur; and a photo (the clip's first frame) to a cut-out PNG and
a JPEG over the default background. Every decoded frame of every output is compared; the line per
output says identical or where it first differs.

    python benchmarks/unchanged.py --baseline-tree WORKTREE [--frames 60]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import ROOT, machine, portrait_frames, save_result

RUN = """
import sys, vmatte
clip, photo, out = sys.argv[1], sys.argv[2], sys.argv[3]
vmatte.convert(clip, matte=out + "/m.mkv", rgba=out + "/a.mov", composite=out + "/c.mp4", background="blur:20",
               progress=False)
vmatte.convert(clip, rgba=out + "/best.mov", composite=out + "/best.mp4", effort="best", progress=False)
vmatte.convert(photo, rgba=out + "/p.png", composite=out + "/p.jpg", progress=False)
live = getattr(vmatte, "live", None)  # the public API; an older tree has it in vmatte.live
if not callable(live):
    from vmatte.live import live
live(source=clip, sink=out + "/live.mkv", quiet=True)
"""
OUTPUTS = {"m.mkv": "gray16le", "a.mov": "rgba64le", "c.mp4": "rgb24", "best.mov": "rgba64le", "best.mp4": "rgb24",
           "live.mkv": "rgb24", "p.png": "image", "p.jpg": "image"}


def frames(path: Path, fmt: str) -> list[np.ndarray]:
    import av

    if fmt == "image":
        from PIL import Image

        with Image.open(path) as im:
            return [np.asarray(im)]
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-tree", required=True, help="another checkout of vmatte (e.g. a git worktree)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    from samples.make_sample import write_clip

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as d:
        clip, photo = Path(d) / "clip.mp4", Path(d) / "photo.png"
        half = portrait_frames(a.frames // 2, 1280, 720)
        write_clip(clip, half + [np.ascontiguousarray(f[::-1, ::-1] // 2) for f in half])  # a hard cut
        from PIL import Image

        Image.fromarray(half[0]).save(photo)
        outs = {}
        for name, tree in (("this", ROOT), ("baseline", Path(a.baseline_tree).resolve())):
            out = Path(d) / name
            out.mkdir()
            env = {**os.environ, "PYTHONPATH": str(tree)}
            res = subprocess.run([sys.executable, "-c", RUN, str(clip), str(photo), str(out)], env=env, cwd=tree,
                                 capture_output=True, text=True)
            if res.returncode:
                sys.exit(res.stderr[-2000:])
            outs[name] = out
        rows = {}
        for name, fmt in OUTPUTS.items():
            x, y = frames(outs["this"] / name, fmt), frames(outs["baseline"] / name, fmt)
            diff = next((i for i, (p, q) in enumerate(zip(x, y)) if not np.array_equal(p, q)), None)
            same = len(x) == len(y) and diff is None
            digest = hashlib.sha256(b"".join(f.tobytes() for f in x)).hexdigest()[:16]
            rows[name] = {"frames": [len(x), len(y)], "identical": same, "first_difference": diff, "sha256": digest}
            print(f"  {name:9} {len(x)} / {len(y)} frames: "
                  f"{'identical' if same else f'DIFFERENT from frame {diff}'} ({digest})")
    revs = {n: subprocess.run(["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() for n, t in (("this", ROOT), ("baseline", a.baseline_tree))}
    save_result("unchanged-cpu", {"trees": revs, "frames": a.frames, "outputs": rows}, a.out)
    sys.exit(0 if all(r["identical"] for r in rows.values()) else 1)


if __name__ == "__main__":
    main()
