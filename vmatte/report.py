"""The quality report: one static HTML page (images embedded) about a matting run.

It shows what was run (vmatte's version, the model and settings, the machine), summary figures each with
what it means and how this run compares with the project's own test clips, the temporal stability of the
matte over time (mean |delta alpha| between consecutive frames, counted only where the picture itself is
still, so motion is not mistaken for flicker) with frame numbers and scene cuts marked, and a contact
sheet (source, alpha, composite) at sampled frames.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .compose import render
from .engine import Matte
from .io.atomic import write_atomically
from .io.frames import Frame
from .pixels import to_array

STILL = 2.0 / 255  # a pixel whose grey level moves less than this between frames counts as still
# Mean |delta alpha| on still pixels: vmatte's defaults measured 0.00015-0.00034 on the project's three real
# test clips (CPU, up to 200 frames each; benchmarks/results/report-calibration-cpu-*.json). The report calls a
# run steady up to CALM (about 3x those clips) and flickering above SHAKY (about 10x): rough bands from our
# own clips, not a perceptual threshold.
CLIPS_MEASURED = "0.00015-0.00034"
CALM, SHAKY = 0.001, 0.003


def verdict(mean_delta: float) -> str:
    """How a run's mean |delta alpha| on still pixels compares with the test clips' (CALM, SHAKY)."""
    ours = f"vmatte's defaults measured {CLIPS_MEASURED} on our test clips"
    if mean_delta <= CALM:
        return f"steady (≤ {CALM}; {ours})"
    if mean_delta <= SHAKY:
        return f"some flicker (above {CALM}; {ours}): look at the frames where the plot peaks"
    return (f"flickers (above {SHAKY}; {ours}): try a higher --downsample-ratio or --subject full-body, and "
            "look at the frames where the plot peaks")


@dataclass
class QualityReport:
    """Observes (frame, matte, new-shot) in order; `write(path)` saves the page. Sizes in pixels."""

    title: str = "vmatte quality report"
    about: dict[str, str] = field(default_factory=dict)  # what was run: version, model, settings, machine
    samples: int = 8
    expected_frames: int | None = None
    thumb_width: int = 320
    stability: list[float] = field(default_factory=list)  # per frame, mean |delta alpha| on still pixels
    coverage: list[float] = field(default_factory=list)  # per frame, mean alpha
    cuts: list[int] = field(default_factory=list)
    sheet: list[tuple[int, str, str, str]] = field(default_factory=list)  # (index, src, alpha, composite)
    _prev: tuple[torch.Tensor, torch.Tensor] | None = None

    def observe(self, f: Frame, m: Matte, new_shot: bool, background=None) -> None:
        grey = m.src.float().mean(1, keepdim=True)
        pha = m.pha.float()
        if new_shot:
            self.cuts.append(f.index)
        if self._prev is None or new_shot:
            self.stability.append(float("nan"))
        else:
            still = (grey - self._prev[0]).abs() < STILL
            n = int(still.sum())
            self.stability.append(float(((pha - self._prev[1]).abs() * still).sum() / n) if n else float("nan"))
        self._prev = (grey, pha)
        self.coverage.append(float(pha.mean()))
        step = max(1, (self.expected_frames or 30 * self.samples) // self.samples)
        if f.index % step == 0:
            self.sheet.append((f.index, self._png(m.src), self._png(m.pha), self._png(render("composite", m,
                                                                                        background, f.index))))
            if len(self.sheet) > 2 * self.samples:  # unknown length: thin out, keep the spread
                self.sheet = self.sheet[::2]

    def _png(self, t: torch.Tensor) -> str:
        img = to_array(t, 8)
        h, w = img.shape[:2]
        img = cv2.resize(img, (self.thumb_width, max(1, round(h * self.thumb_width / w))), interpolation=cv2.INTER_AREA)
        if img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", img)
        return base64.b64encode(buf.tobytes()).decode()

    def figures(self) -> dict[str, float | int | str]:
        s = np.array([x for x in self.stability if x == x])
        return {
            "frames": len(self.coverage),
            "scene cuts": len(self.cuts),
            "mean |Δα| on still pixels (0..1)": round(float(s.mean()), 5) if s.size else "n/a",
            "95th percentile |Δα| (0..1)": round(float(np.percentile(s, 95)), 5) if s.size else "n/a",
            "mean alpha coverage (0..1)": round(float(np.mean(self.coverage)), 4) if self.coverage else "n/a",
        }

    def _plot(self, width: int = 900, height: int = 220) -> str:
        vals = np.array(self.stability, dtype=float)
        n = max(1, len(vals) - 1)
        top = float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
        top = top if top > 0 else 1.0
        x = lambda i: 40 + (width - 50) * i / n  # noqa: E731
        y = lambda v: height - 25 - (height - 40) * v / top  # noqa: E731
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals) if v == v)
        cuts = "".join(f'<line x1="{x(c):.1f}" x2="{x(c):.1f}" y1="10" y2="{height - 25}" class="cut"/>'
                       f'<text x="{x(c) + 3:.1f}" y="20" class="cutlabel">cut {c}</text>' for c in self.cuts)
        ticks = "".join(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{height - 25}" y2="{height - 21}" class="axis"/>'
                        f'<text x="{x(i):.1f}" y="{height - 10}" class="tick xtick" text-anchor="middle">{i}</text>'
                        for i in frame_ticks(len(vals)))
        return (f'<svg width="{width}" height="{height}" role="img" aria-label="temporal stability">'
                f'<line x1="40" y1="{height - 25}" x2="{width - 10}" y2="{height - 25}" class="axis"/>'
                f'<line x1="40" y1="10" x2="40" y2="{height - 25}" class="axis"/>'
                f'<text x="2" y="16" class="tick">{top:.3g}</text><text x="2" y="{height - 25}" class="tick">0</text>'
                f'<text x="{width - 10:.0f}" y="{height - 28}" class="tick" text-anchor="end">frame</text>'
                f'{ticks}{cuts}<polyline points="{pts}" class="line"/></svg>')

    def html(self) -> str:
        figures = self.figures()
        meaning = {
            "frames": "frames matted",
            "scene cuts": "hard cuts found; the state starts afresh at each (--scene-cuts)",
            "mean |Δα| on still pixels (0..1)": "matte flicker where the picture did not change; lower is better",
            "95th percentile |Δα| (0..1)": "the worst frames' flicker; lower is better",
            "mean alpha coverage (0..1)": "the share of the picture that is person; 0 means nobody was found",
        }
        mean = figures["mean |Δα| on still pixels (0..1)"]
        judged = {"mean |Δα| on still pixels (0..1)": verdict(mean) if isinstance(mean, float) else "",
                  "mean alpha coverage (0..1)": "nobody found: is there a person in the clip?"
                  if figures["mean alpha coverage (0..1)"] == 0 else ""}
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td>"
                       f"<td>{html.escape(meaning.get(k, ''))}</td><td>{html.escape(judged.get(k, ''))}</td></tr>"
                       for k, v in figures.items())
        about = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.about.items())
        sheet = "".join(
            f'<tr><th>frame {i}</th><td><img alt="source {i}" src="data:image/png;base64,{s}"></td>'
            f'<td><img alt="alpha {i}" src="data:image/png;base64,{a}"></td>'
            f'<td><img alt="composite {i}" src="data:image/png;base64,{c}"></td></tr>'
            for i, s, a, c in self.sheet[:: max(1, len(self.sheet) // self.samples)])
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 10px; text-align: left; }}
.sheet img {{ width: {self.thumb_width}px; display: block; }}
.axis {{ stroke: #444; }} .line {{ fill: none; stroke: #1565c0; stroke-width: 1.5; }}
.cut {{ stroke: #c62828; stroke-dasharray: 4 3; }} .cutlabel, .tick {{ font-size: 11px; fill: #444; }}
</style></head><body>
<h1>{html.escape(self.title)}</h1>
<h2>Summary</h2><table class="summary"><tr><th>figure</th><th>value</th><th>what it means</th>
<th>this run</th></tr>{rows}</table>
<h2>Run</h2><table class="about">{about}</table>
<h2>Temporal stability</h2>
<p>Mean |Δα| between consecutive frames over pixels whose picture did not change (grey level within
{STILL * 255:.0f}/255): matte flicker where nothing moved. Dashed lines mark detected scene cuts.</p>
{self._plot()}
<h2>Contact sheet</h2>
<table class="sheet"><tr><th></th><th>source</th><th>alpha</th><th>composite</th></tr>{sheet}</table>
</body></html>
"""

    def write(self, path: str | Path) -> Path:
        """Write the page under a temporary name and rename it into place."""
        path = Path(path)
        page = self.html()
        write_atomically(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
        return path


def describe_run(info, matter, recipe, warmup: int) -> dict[str, str]:
    """The report's "Run" table: vmatte's version, the source, the model and engine as run (`matter`, an
    engine.Matter), the settings that shape the matte (`recipe`, a recipe.Recipe) and the machine."""
    from .about import machine, version

    matting, notes = recipe.matting, recipe.notes()
    edges = ", ".join(f"{k} {v:g}" for k, v in (("choke", matting.matte_choke), ("feather", matting.feather),
                                                 ("despill", matting.despill)) if v) or "none"
    ratio = f"{matter.ratio:g}{notes['ratio']}"
    return {
        "vmatte": version(),
        "source": f"{info.name}: {info.width}x{info.height}, {float(info.fps):.3g} fps",
        "model": matting.model + (f" (weights {matting.weights})" if matting.weights else ""),
        "engine": f"{matter.backend} on {matter.device} ({str(matter.dtype).replace('torch.', '')})",
        "downsample ratio": ratio,
        "shots": f"state settled on {warmup} frames at each shot's start; at hard cuts: {matting.scene_cuts}"
                 + notes["shots"],
        "edges": edges,
        "background": recipe.background_spec,
        "machine": machine(),
    }


def frame_ticks(n: int, most: int = 8) -> list[int]:
    """Frame numbers to label on an axis of `n` frames: 0, the last, and round steps between (1, 2, 5 x 10^k)."""
    if n <= 1:
        return [0]
    raw = (n - 1) / max(1, most - 1)
    base = 10 ** int(np.floor(np.log10(raw))) if raw >= 1 else 1
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    ticks = list(range(0, n, int(step)))
    if n - 1 - ticks[-1] > step / 2:
        ticks.append(n - 1)
    return ticks

