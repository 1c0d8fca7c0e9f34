"""The figure tables of the docs (docs/figures.md, docs/guides/photos.md, any page with a marker), made
from the recorded runs in benchmarks/results/*.json, so they cannot drift from the evidence. A range is
the min-max over the recorded runs of that figure. Every table is on exactly one page.

    python benchmarks/readme_tables.py          # rewrite the tables between the pages' markers
    python benchmarks/readme_tables.py --check  # exit 1 if a page differs (a test runs this)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARK = re.compile(r"(<!-- figures:(?P<name>[a-z0-9-]+) -->\n)(.*?)(<!-- /figures -->)", re.S)


def load(prefix: str) -> list[tuple[str, dict]]:
    """(file name, content) of every results file whose name starts with `prefix`, oldest name first."""
    return [(p.name, json.loads(p.read_text())) for p in sorted(RESULTS.glob(f"{prefix}*.json"))]


def span(values: Iterable[float | None], fmt: str = "{:.2f}") -> str:
    """'a' or 'a-b' over the recorded values (those present); '' when none."""
    vs = sorted(v for v in values if v is not None)
    if not vs:
        return ""
    lo, hi = fmt.format(vs[0]), fmt.format(vs[-1])
    return lo if lo == hi else f"{lo}-{hi}"


def table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows if any(r[1:])]
    return "\n".join(out) + "\n"


def sources(files: list[str]) -> str:
    return "From " + ", ".join(f"`{f}`" for f in files) + " in `benchmarks/results/`.\n\n"


def gpu_network() -> str:
    runs = [(f, d) for f, d in load("gpu-") if isinstance(d.get("network"), list)]

    def pick(size: str, dtype: str, backend: str, key: str) -> list[float]:
        return [r[key] for _, d in runs for r in d["network"]
                if r["size"] == size and r["dtype"] == dtype and r["backend"] == backend]

    rows = []
    for size in ("720p", "1080p", "4K"):
        ratio = next((r["ratio"] for _, d in runs for r in d["network"] if r["size"] == size), "")
        comp = [d["torch_compile"] for _, d in load("gpu-")
                if size == "1080p" and "network_ms" in (d.get("torch_compile") or {})]
        rows.append([f"{size} @{ratio}", span(pick(size, "float32", "torch", "network_ms")),
                     span(pick(size, "float32", "cuda-graph", "network_ms")),
                     f"{span(pick(size, 'float16', 'cuda-graph', 'network_ms'))} / "
                     f"{span(pick(size, 'float16', 'cuda-graph', 'with_transfers_ms'))}",
                     f"{span(c['network_ms'] for c in comp)} / {span(c['with_transfers_ms'] for c in comp)}"
                     if comp else ""])
    cards = sorted({d["card"] for _, d in runs})
    return (f"Card: {', '.join(cards)}. ms per frame, batch 1; \"with transfers\" = uint8 frame from host memory "
            "in, uint8 RGBA back in host memory, synchronised. " + sources([f for f, _ in runs]) +
            table(["input @ratio", "fp32 eager", "fp32 graph", "fp16 graph: network / with transfers",
                   "fp16 torch-compile + graph: network / with transfers"], rows))


def gpu_pipeline() -> str:
    runs = load("gpu-")
    enc = [d["encode"] for _, d in runs if isinstance(d.get("encode"), dict) and "ceiling_fps" in d["encode"]]
    e2e = [d["end_to_end"] for _, d in runs if isinstance(d.get("end_to_end"), dict) and "fps" in d["end_to_end"]]
    bat = [d["batched"] for _, d in runs if d.get("batched")]
    bat = [r for b in bat for r in (b if isinstance(b, list) else [b]) if isinstance(r, dict)]
    prec = [d["precision"] for _, d in runs if isinstance(d.get("precision"), dict)]
    live = [r for _, d in runs if isinstance(d.get("live"), list) for r in d["live"]]
    rows = [
        ["ProRes 4444 1080p encode: all cores as single-thread processes (the ceiling)",
         span((e["ceiling_fps"] for e in enc), "{:.1f}") + " fps"],
        ["one encoder with FFmpeg's frame threads / vmatte's pool",
         f"{span((e['codec_threads_fps'] for e in enc), '{:.1f}')} / "
         f"{span((e['pool_fps'] for e in enc), '{:.1f}')} fps"],
        ["`vmatte convert` 1080p H.264 → ProRes 4444, in the pipeline (of the ceiling in the same run)",
         f"{span((e['fps'] for e in e2e), '{:.1f}')} fps ({span((e.get('of_ceiling') for e in e2e), '{:.2f}')})"],
        ["fp16 vs fp32 alpha, 1080p real portrait: mean / max",
         f"{span((p['fp16_vs_fp32_alpha_mean_abs'] for p in prec), '{:.1e}')} / "
         f"{span((p['max_abs'] for p in prec), '{:.3f}')}"],
    ]
    for backend in sorted({r.get("backend", "cuda-graph") for r in bat}):
        mine = [r for r in bat if r.get("backend", "cuda-graph") == backend]
        rows.append([f"4 streams of 1080p in one batched step ({backend}): network / with uploads",
                     f"{span(r.get('network_ms') for r in mine)} ms "
                     f"({span((r.get('network_fps_total') for r in mine), '{:.0f}')} fps) / "
                     f"{span(r.get('with_uploads_ms', r.get('batch_ms')) for r in mine)} ms "
                     f"({span((r.get('fps_total') for r in mine), '{:.0f}')} fps)"])
    for bg in ("blur:20", "green"):
        mine = [r for r in live if r["background"] == bg]
        if mine:
            rows.append([f"live 1080p30 file played in real time → H.264 file, {bg}: fps, dropped of 300, p95",
                         f"{span((r['fps'] for r in mine), '{:.1f}')} fps, "
                         f"{span((r['dropped'] for r in mine), '{:.0f}')} dropped, "
                         f"p95 {span((r['latency_ms']['p95'] for r in mine), '{:.1f}')} ms"])
    return sources([f for f, _ in runs]) + table(["what (GPU host)", "figure"], rows)


def cpu() -> str:
    rows, files = [], []

    def add(prefix: str, make: Callable[[list[dict]], list[list[str]]]) -> None:
        runs = load(prefix)
        if runs:
            files.extend(f for f, _ in runs)
            rows.extend(make([d for _, d in runs]))

    def model_rows(ds: list[dict]) -> list[list[str]]:
        out = []
        for r in ds[0]["rows"]:
            rs = [x for d in ds for x in d["rows"] if x["size"] == r["size"]]
            out.append([f"network {r['size']} @{r['ratio']}: torch / torch channels_last / ONNX Runtime",
                        f"{span(x['torch_fps'] for x in rs)} / {span(x['torch_channels_last_fps'] for x in rs)} / "
                        f"{span(x['onnxruntime_fps'] for x in rs)} fps"])
        return out

    add("cpu-model", model_rows)
    def pipeline_rows(ds: list[dict]) -> list[list[str]]:
        rows = []
        for d in ds:
            size = d["clip"].split(" ")[0]
            rows += [[f"{size} stages alone: decode / ProRes 4444 encode aw / ks",
                      f"{d['stages']['decode_fps']:.0f} / {d['stages']['encode_prores_aw_fps']:.0f} / "
                      f"{d['stages']['encode_prores_ks_fps']:.0f} fps"],
                     [f"`vmatte convert` {size} → ProRes 4444 against the serial decode → official export in ONNX "
                      "Runtime → encode loop, whole processes, same run (default warm-up)",
                      f"{d['convert_warmup15_fps']} vs {d['serial_fps']} fps "
                      f"({d['convert_warmup15_fps'] / d['serial_fps']:.2f}x; without warm-up "
                      f"{d['convert_warmup0_fps'] / d['serial_fps']:.2f}x)"]]
            if d.get("busy_ms"):
                rows.append([f"where `vmatte convert` {size} spends its time: busy ms per frame by stage",
                             ", ".join(f"{k} {v}" for k, v in d["busy_ms"].items())])
            rows += [[f"peak memory of `vmatte convert` {size} → ProRes 4444, {n} frames", f"{d['peak_mb'][n]:.0f} MB"]
                     for n in sorted(d["peak_mb"], key=int)]
        return rows

    add("cpu-pipeline", pipeline_rows)
    add("cpu-clip-", lambda ds: [[f"the same on `{d['clip']}`, {d['frames']} frames",
                                   f"{d['convert_fps']} vs {d['serial_fps']} fps "
                                   f"({d['convert_fps'] / d['serial_fps']:.2f}x)"] for d in ds])
    add("cpu-memory", lambda ds: [[f"peak memory of `vmatte convert`, {d['clip']}",
                                    ", ".join(f"{r['frames']} frames {r['peak_mb']} MB" for r in d["rows"])]
                                   for d in ds])
    add("cpu-live-cpu", lambda ds: [[f"live {r['size']} 30 fps {r.get('clip', 'portrait')} file in real time → "
                                      f"file, ratio {r['ratio']}, {r['background']}: fps, dropped, p95"
                                      + (", first second's p95" if "first_second_ms" in r else ""),
                                      f"{r['fps']} fps, {r['dropped']} of {r['frames_in']} dropped, "
                                      f"p95 {r['latency_ms']['p95']:.0f} ms"
                                      + (f", {r['first_second_ms']['p95']:.0f} ms" if "first_second_ms" in r else "")]
                                     for d in ds for r in d["rows"]])
    add("cpu-live-before-after", lambda ds: [
        [f"live {d['clip']}, this code / the code before issue 13 ({len(d['runs']['this'])} alternating whole "
         "processes each): fps, dropped of " + str(d["frames"]) + ", p95",
         f"{span((r['fps'] for r in d['runs']['this']), '{:.1f}')} / "
         f"{span((r['fps'] for r in d['runs']['baseline']), '{:.1f}')} fps, "
         f"{span((r['dropped'] for r in d['runs']['this']), '{:.0f}')} / "
         f"{span((r['dropped'] for r in d['runs']['baseline']), '{:.0f}')} dropped, p95 "
         f"{span((r['p95'] for r in d['runs']['this']), '{:.0f}')} / "
         f"{span((r['p95'] for r in d['runs']['baseline']), '{:.0f}')} ms"] for d in ds])
    add("cpu-before-after", lambda ds: [[f"issue 10 restructure: `vmatte convert` {d['clip']}, after / before "
                                          f"(median of {d['repeats']} alternating runs)",
                                          f"{d['this_fps']} / {d['baseline_fps']} fps ({d['ratio']:.2f}x)"]
                                         for d in ds])
    add("soak-cpu", lambda ds: [[f"soak: live {d['setup']}, {d['minutes']:g} minutes",
                                 f"memory slope {d['rss_slope_mb_per_minute']:+.2f} MB/minute "
                                 f"({d['per_minute'][0]['rss_mb']:.0f} → {d['per_minute'][-1]['rss_mb']:.0f} MB); "
                                 f"p95 first minute {d['per_minute'][0]['p95_ms_max_of_status_lines']} ms, last "
                                 f"{d['per_minute'][-1]['p95_ms_max_of_status_lines']} ms; dropped "
                                 f"{sum(m['dropped'] for m in d['per_minute'])} of "
                                 f"{sum(m['dropped'] + m['frames_out'] for m in d['per_minute'])}"] for d in ds])
    def trt_rows(ds: list[dict]) -> list[list[str]]:
        builds = [b for d in ds for b in d["builds"]]
        fp16 = [d["fp16"] for d in ds if d.get("fp16")]
        return [["TensorRT for RTX engine build (no GPU): time, size fp32 / fp16",
                 f"{span(b['build_s'] for b in builds)} s, "
                 f"{span(b['engine_mb'] for b in builds if b['precision'] == 'fp32')} / "
                 f"{span(b['engine_mb'] for b in builds if b['precision'] == 'fp16')} MB"],
                ["fp16 vs fp32 alpha, our export in ONNX Runtime, 30 real frames: mean / max",
                 f"{span((f['mean_abs_alpha'] for f in fp16), '{:.1e}')} / "
                 f"{span((f['max_abs_alpha'] for f in fp16), '{:.4f}')}"]]

    add("tensorrt-build", trt_rows)
    add("colour-paths-cpu", lambda ds: [
        [f"{r['size']} to the encoder's frame, packed + swscale / planes: ProRes 4444; H.264",
         f"{r['prores_packed_swscale_ms']} / {r['prores_planes_ms']} ms; {r['h264_packed_swscale_ms']} / "
         f"{r['h264_planes_ms']} ms"] for d in ds for r in d["rows"]] + [
        [f"{r['size']} decode to a float tensor, swscale rgb24 / planes by vmatte.colour (CPU)",
         f"{r['decode_swscale_rgb24_ms']} / {r['decode_planes_colour_ms']} ms"] for d in ds for r in d["rows"]])
    add("colour-paths-before-after-cpu", lambda ds: [
        [f"{size} picture to H.264's 4:2:0 planes, the code before / now (chroma averaged in RGB ahead of the "
         "matrix), alternating runs", f"{span(r[i]['h264_planes_ms'] for r in d['runs']['baseline'])} / "
         f"{span(r[i]['h264_planes_ms'] for r in d['runs']['this'])} ms"]
        for d in ds for i, size in enumerate(row["size"] for row in d["runs"]["this"][0])])
    add("allocator-cpu", lambda ds: [
        ["720p blur-background composite, glibc's default allocator / as vmatte sets it (ms, fresh processes)",
         f"{span(d['compose_720p_blur_ms']['glibc_default'])} / {span(d['compose_720p_blur_ms']['vmatte'])}"]
        for d in ds] + [
        [f"peak memory of `vmatte convert` 720p, {a['frames']} frames, glibc's default / vmatte's allocator settings",
         f"{a['peak_mb']} / {b['peak_mb']} MB"]
        for d in ds for a, b in zip(d["memory"]["glibc_default"], d["memory"]["vmatte"])])
    machines = sorted({json.loads((RESULTS / f).read_text()).get("machine", "") for f in files} - {""})
    return (f"Machine: {'; '.join(machines)}. " + sources(files) + table(["what (CPU)", "figure"], rows))


def still() -> str:
    runs = load("still-mode")
    if not runs:
        return ""
    f, d = runs[-1]
    names = [n[-8:] for n in d["portraits"]]

    def row(label: str, side: int, passes: int, flip: bool) -> list[str]:
        t = next(t for t in d["table"] if (t["short_side"], t["passes"], t["flip"]) == (side, passes, flip))
        return [label, *(f"{v:.2f}" for v in t["mads"]), f"{t['mean']:.2f}"]

    rows = [row("video mode (plain RVM: 270 px, no settling)", 270, 0, False),
            row("**photo default: 512 px, 8 settling steps**", 512, 8, False),
            row("270 px, 8 steps, + mirror (`--still-flip`)", 270, 8, True),
            row("768 px, 8 steps, + mirror", 768, 8, True)]
    return (f"MAD x1e3 of alpha against the P3M-Net matte beside each portrait (another model's prediction, not "
            f"ground truth), on the CPU machine. From `{f}` (`benchmarks/still_mode.py`, 32 settings).\n\n"
            + table(["still mode", *names, "mean"], rows))


def quality_gt() -> str:
    runs = load("quality-gt")
    if not runs:
        return ""
    f, d = runs[-1]
    rows = []
    for clip in d["clips"]:
        for method, s in clip["methods"].items():
            m = s["mean"]
            rows.append([f"{clip['size']}, {method}", *(f"{m[k]:.{p}f}" for k, p in
                                                          (("mad", 2), ("mse", 2), ("grad", 3), ("conn", 2),
                                                           ("dtssd", 2), ("fg_mse", 2))),
                         f"{s['post_cut_dtssd_ratio']:.2f}"])
    speed = [[f"{t['size']}, {name}", f"{ms:.1f}"] for t in d["timing_ms_per_frame"] for name, ms in t["ms"].items()]
    goals = "; ".join(f"{k}: {'met' if v else '**missed**'}" for k, v in d["goals"].items())
    return (f"Against exact ground truth, on the CPU machine. From `{f}` (`benchmarks/quality_gt.py`; "
            f"{d['clips'][0]['frames']} frames per clip, hard cuts at {d['clips'][0]['cuts']}; plot: "
            f"`{f[:-5]}.png`).\n\n"
            + table(["clip, method", "MAD", "MSE", "Grad", "Conn", "dtSSD", "fg MSE", "dtSSD after cuts / rest"],
                    rows)
            + f"\nGoals: {goals}.\n\n" + table(["matting step alone, ms per frame (2-core CPU)", "ms"], speed))


def workers() -> str:
    runs = load("workers-cpu")
    gpu_runs = load("workers-gpu-")
    if not runs and not gpu_runs:
        return ""
    rows, files = [], []
    for f, d in runs[-1:]:
        files.append(f)
        n = d["frames"]
        for key, what in (("folder", f"a folder of 3 clips, {n // 3} frames each"),
                          ("segments", f"one clip of {n} frames in {d['segment_seconds']:g} s segments")):
            for way, r in d[key].items():
                rows.append([f"{what}, 640x360 → ProRes 4444: {way} (2-core CPU)",
                             f"{r['seconds']:.1f} s ({r['vs_one_process']:.2f}x one process)"])
        ff = d["first_frames"]
        cut = [r for r in ff if r["at_cut"]]
        rest = [r for r in ff if not r["at_cut"] and r["start"] > 0]
        rows.append(["first frame of a segment against one process: mid-shot, mean / max abs alpha difference",
                     f"{span((r['mean'] for r in rest), '{:.1e}')} / {span((r['max'] for r in rest), '{:.4f}')}"])
        if cut:
            rows.append(["the same where a segment starts at a hard cut",
                         f"{span((r['mean'] for r in cut), '{:.1e}')} / {span((r['max'] for r in cut), '{:.4f}')}"])
    for f, d in gpu_runs:
        files.append(f)
        for r in d["runs"]:
            rows.append([f"{d['size']} H.264 → ProRes 4444, {d['frames']} frames, `--workers {r['workers']}`, "
                         f"{d['card']} ({d['cpu_cores']} cores)",
                         f"{r['fps']:.1f} fps whole process, {r['of_ceiling']:.2f} of the all-cores encode ceiling "
                         f"({d['encode']['ceiling_fps']:.0f} fps, same run)"])
    return sources(files) + table(["scale-out, whole processes", "figure"], rows)


def control() -> str:
    runs = load("control-cpu")
    if not runs:
        return ""
    f, d = runs[-1]
    rows = []
    for size, r in d["sizes"].items():
        plain, page = r["median"]["plain"], r["median"]["page"]
        rows.append([size, f"{plain['fps']:.1f} / {page['fps']:.1f}", f"{plain['dropped']:.0f} / {page['dropped']:.0f}",
                     f"{plain['cpu_ms_per_frame']:.1f} / {page['cpu_ms_per_frame']:.1f} "
                     f"(+{100 * (page['cpu_ms_per_frame'] / plain['cpu_ms_per_frame'] - 1):.0f}%)",
                     f"{plain['sink_p95_ms']:.0f} / {page['sink_p95_ms']:.0f}", f"{page['browser_p95_ms']:.0f}",
                     f"{page['chromium_cpu_ms_per_frame']:.1f}",
                     f"{r['first_start_s']:.1f} / {r['second_start_s']:.1f}"])
    return (f"{d['machine']}. Clip: {d['clip']}; medians of {len(next(iter(d['sizes'].values()))['runs']['plain'])} "
            f"whole-process runs each, alternating, without a page / with headless Chromium on the output page. "
            f"From `{f}` (`benchmarks/control.py`).\n\n"
            + table(["size", "fps", "dropped of 300", "vmatte CPU ms a frame", "p95 capture to sink, ms",
                     "p95 capture to the page's draw, ms", "Chromium CPU ms a frame",
                     "start, s: measuring / measurement kept"], rows))


def effort() -> str:
    runs = [(f, d) for f, d in load("effort-probe-") if d["table"]["clean"].get("fine all three")]
    if not runs:
        return ""
    # label, the probe's method, network steps a frame at which internal scale (best runs its backward
    # stream twice: once to keep its states, once for the output)
    methods = [("plain RVM (the baseline)", "plain", "1"), ("`--effort fast`", "coarse", "1 at half the scale"),
               ("**`--effort default`**", "default", "1"),
               ("default, backward, mirror: mean", "all three", "4"),
               ("default at twice the scale", "fine", "1 at twice the scale"),
               ("**`--effort best`**: twice the scale, forward, backward, mirror: mean", "fine all three",
                "4 at twice the scale")]
    out, files = [], []
    for f, d in sorted(runs, key=lambda r: int(r[1]["size"].split("x")[0])):
        files.append(f)
        conds = [c for c in ("clean", "blur", "noise", "crf28") if c in d["table"]]
        t = d["table"]
        rows = []
        for label, key, steps in methods:
            cells = []
            for c in conds:
                base, m = t[c]["plain"], t[c][key]
                cells.append(f"{m['mad']:.2f} / {m['dtssd']:.2f} ({100 * (m['mad'] / base['mad'] - 1):+.0f}% / "
                             f"{100 * (m['dtssd'] / base['dtssd'] - 1):+.0f}%)")
            rows.append([label, *cells, steps])
        out.append(f"**{d['size']}** ({d['frames']} frames, {len(d['shots'])} shots; RVM's ratio {d['ratio']:.3g}, "
                   f"twice: {d['fine_ratio']:.3g}):\n\n"
                   + table(["method", *(f"{c}: MAD / dtSSD" for c in conds), "network steps a frame"], rows))
    return (f"{runs[0][1]['machine']}. MAD x1e3, dtSSD x1e2; in brackets, against plain RVM. From "
            + ", ".join(f"`{f}`" for f in files) + " (`benchmarks/effort_probe.py --fine 2`).\n\n"
            + "\n".join(out))


def effort_cost() -> str:
    runs = load("effort-cost-cpu")
    if not runs:
        return ""
    f, d = runs[-1]
    rows = []
    for effort, rs in d["speed"].items():
        rows.append([f"`--effort {effort}`", span(r["fps"] for r in rs), span(r["stages"]["network"] for r in rs),
                     span((r["peak_mb"] for r in rs), "{:.0f}"), span((r["temp_disk_mb"] for r in rs), "{:.0f}")])
    mem = [[f"`--effort best`, {n} frames", "", "", f"{r['peak_mb']:.0f}", f"{r['temp_disk_mb']:.0f}"]
           for n, r in d["memory"].items()]
    return (f"{d['machine']}. {d['frames']} frames of {d['size']} H.264 to ProRes 4444, whole processes, "
            f"alternating; then one shot of each length to a matte at ratio {d['memory_ratio']:g}. From `{f}` "
            "(`benchmarks/effort_cost.py`).\n\n"
            + table(["run", "frames a second", "network stage, s", "peak memory, MB", "temporary disk, MB"],
                    rows + mem))


TABLES = {"control": control, "gpu-network": gpu_network, "gpu-pipeline": gpu_pipeline, "cpu": cpu, "still": still,
          "quality-gt": quality_gt, "workers": workers, "effort": effort, "effort-cost": effort_cost}


def render(text: str) -> str:
    def fill(m: re.Match) -> str:
        return m.group(1) + TABLES[m.group("name")]() + m.group(4)

    return MARK.sub(fill, text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="exit 1 if a page's tables differ from the results")
    a = ap.parse_args()
    texts = {p: p.read_text() for p in PAGES}
    found = [m.group("name") for t in texts.values() for m in MARK.finditer(t)]
    wrong = sorted(n for n in set(found) | set(TABLES) if found.count(n) != 1)
    if wrong:
        sys.exit(f"each figure table must be on exactly one page: {', '.join(wrong)}")
    changed = [p for p, t in texts.items() if render(t) != t]
    if a.check:
        if changed:
            sys.exit(f"figure tables in {', '.join(str(p.relative_to(ROOT)) for p in changed)} differ from "
                     "benchmarks/results; run python benchmarks/readme_tables.py")
        print(f"{len(found)} figure tables match benchmarks/results")
        return
    for p in changed:
        p.write_text(render(texts[p]))
    print(f"rewrote the figure tables in {len(changed)} page(s)")


if __name__ == "__main__":
    main()
