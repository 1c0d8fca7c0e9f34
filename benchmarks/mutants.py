"""Mutation spot-checks: small, realistic bugs put into a copy of the code, one at a time, and the tests
meant to catch each one run against it. Each row says caught (a test failed) or MISSED. Not part of CI.

    python benchmarks/mutants.py [--only NAME[,NAME...]] [--list]     (or: make mutants)
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, file, code as it is, the bug, the tests that must catch it)
MUTANTS = [
    ("audio 100 ms late", "vmatte/io/audio.py",
     "p.pts = None if pts is None else pts - self.shift",
     "p.pts = None if pts is None else pts - self.shift + round(0.1 / self.time_base)",
     "tests/test_convert.py -k timing_audio"),
    ("live: no reset at hard cuts", "vmatte/session.py",
     'SettledShots(matter, warmup=0, scene_cuts=matting.scene_cuts == "reset")',
     "SettledShots(matter, warmup=0, scene_cuts=False)", "tests/test_live.py -k hard_cut"),
    ("blur: no edge margin", "vmatte/compose.py", "r = max(3, round(min(h, w) / 240))", "r = 0",
     "tests/test_quality.py -k ring"),
    ("blur: clear threshold 0.5", "vmatte/compose.py", "(pha >= 0.02)", "(pha >= 0.5)",
     "tests/test_quality.py -k ring"),
    ("writers write to the final name", "vmatte/io/video_writer.py",
     "self.tmp = temp_path_for(self.path) if self.path is not None else None",
     "self.tmp = self.path", "tests/test_writers.py"),
    ("PNG writer writes in place", "vmatte/io/sequences.py",
     'self.tmp = temp_path_for(self.folder / path.stem.replace("%", "_"), folder=True)',
     "self.tmp = self.folder", "tests/test_writers.py"),
    ("virtual camera gets black frames", "vmatte/io/sinks.py", "self.cam.send(np.ascontiguousarray(pixels))",
     "self.cam.send(np.zeros_like(pixels))", "tests/test_live.py -k camera_loss"),
    ("nothing sent while the camera is away", "vmatte/session.py",
     "self.sink.write(self.last if self.last is not None else _placeholder(info.width, info.height), 0)",
     "pass", "tests/test_live.py -k camera_loss"),
    ("report stability over all pixels", "vmatte/report.py", "still = (grey - self._prev[0]).abs() < STILL",
     "still = (grey - self._prev[0]).abs() < 2.0", "tests/test_report.py -k still"),
    ("choke moves the edge one pixel too far", "vmatte/compose.py", "r = max(1, round(abs(self.choke)))",
     "r = max(1, round(abs(self.choke))) + 1", "tests/test_quality.py -k choke_moves"),
    ("first frame dropped", "vmatte/io/video_source.py", "itertools.chain([self._first], self._frames)",
     "self._frames", "tests/test_convert.py -k prores_4444_rgba"),
    ("video timestamps doubled (a time-base mix-up)", "vmatte/io/encoding.py", "    frame.pts = pts\n",
     "    frame.pts = pts * 2\n", "tests/test_convert.py -k timing_audio"),
    ("premultiplied instead of straight alpha", "vmatte/compose.py", 'return torch.cat([m.fgr, m.pha], 1)',
     'return torch.cat([m.fgr * m.pha, m.pha], 1)', "tests/test_quality.py -k straight_alpha"),
    ("composite uses the source, not the foreground", "vmatte/compose.py",
     "torch.lerp(bg, m.fgr, m.pha.expand_as(bg))", "torch.lerp(bg, m.src, m.pha.expand_as(bg))",
     "tests/test_quality.py -k straight_alpha"),
    ("shots never settled", "vmatte/shots.py", "            if self.warmup:\n", "            if False:\n",
     "tests/test_quality.py -k starts_settled"),
    ("no same-palette cuts", "vmatte/scenecut.py", "cut = jump and (hist > self.min_hist or sure)",
     "cut = jump and hist > self.min_hist", "tests/test_quality.py -k rearranged"),
    ("per-stream reset resets nothing", "vmatte/engine/steppers.py", "                    s[stream] = 0\n",
     "                    pass\n", "tests/test_engine.py -k batched_streams"),
    ("pixels truncated, not rounded", "vmatte/pixels.py", ".mul(peak).add_(0.5)", ".mul(peak)",
     "tests/test_engine.py -k rounded"),
    ("despill allowed up to 2", "vmatte/options.py", 'kind=float,\n                            low=0, high=1)',
     'kind=float,\n                            low=0, high=2)', "tests/test_options.py -k despill"),
    ("output may overwrite the input", "vmatte/io/atomic.py", "        if real in sources:\n",
     "        if False:\n", "tests/test_hostile.py -k on_the_input"),
    ("image pattern gaps accepted", "vmatte/io/sequences.py", "        if missing:  # later frames",
     "        if False:  # later frames", "tests/test_hostile.py -k bad_media"),
    ("zeroed timestamps kept", "vmatte/io/video_source.py", "(last is not None and pts <= last)",
     "(last is not None and pts < last)", "tests/test_hostile.py -k zero"),
    ("read-back check skipped", "vmatte/io/video_writer.py", "                self._verify()\n",
     "                pass\n", "tests/test_writers.py -k read_back"),
    ("stale PNG frames kept", "vmatte/io/sequences.py",
     "        for p in stale:\n            p.unlink(missing_ok=True)\n",
     "", "tests/test_hostile.py -k stale"),
    ("cache trusts any file", "vmatte/cache.py",
     "return path.is_file() and side.is_file() and side.read_text().strip() == sha256_of(path)",
     "return path.is_file()", "tests/test_hostile.py -k tampered"),
    ("replaced output gets default permissions", "vmatte/io/atomic.py",
     "        mode = stat.S_IMODE(final.stat().st_mode)\n", "        raise OSError\n",
     "tests/test_hostile.py -k permissions"),
    ("live: Ctrl-C exits 0", "vmatte/cli.py", "        return 130\n    return 0", "        return 0\n    return 0",
     "tests/test_live.py -k ctrl_c"),
    ("auto ratio ignores the subject", "vmatte/engine/__init__.py",
     "return min(1.0, SUBJECT_SHORT_SIDE[subject] * scale / min(width, height))",
     "return min(1.0, 270 * scale / min(width, height))", "tests/test_engine.py -k auto_ratio"),
    ("segments start without the carried state", "vmatte/shots.py",
     "shots.matter.set_state(list(seg.state), f.image)", "pass",
     "tests/test_scale.py -k two_worker_processes"),
    ("the planner hands on the wrong state", "vmatte/scale/plan.py",
     "start, at_cut, number, state = end, bool(near) or cuts_only, number + 1, saved",
     "start, at_cut, number, state = end, bool(near) or cuts_only, number + 1, state",
     "tests/test_scale.py -k two_worker_processes"),
    ("the join shifts timestamps by a frame", "vmatte/scale/join.py",
     "w.write_packet(packet, plan.pts[index])", "w.write_packet(packet, plan.pts[max(0, index - 1)] + 1)",
     "tests/test_scale.py -k two_worker_processes"),
    ("a killed worker's segment is not retried", "vmatte/scale/executors.py",
     'err = give_up(task, tries, "the process ended")', 'err = VmatteError("died")',
     "tests/test_scale.py -k killed_worker_process"),
    ("ProRes fed packed RGB through swscale again (white at 943)", "vmatte/io/video_writer.py",
     "self.planes = enc.planes", "self.planes = None", "tests/test_colour.py -k levels"),
    ("planes: chroma always taken as centre-sited", "vmatte/io/video_source.py",
     "self.siting = planar.chroma_siting(want, yuv, default)", 'self.siting = "centre"', "tests/test_planar.py"),
    ("planes: the stream's BT.709 tag ignored", "vmatte/io/planar.py",
     'AVCOL_SPC = {1: "bt709", 9: "bt2020", 10: "bt2020"}', 'AVCOL_SPC = {9: "bt2020", 10: "bt2020"}',
     "tests/test_planar.py"),
    ("NVDEC's fallback said by default, not at -v", "vmatte/io/planar.py",
     'log.info(f"NVDEC is not available ({missing}); decoding on the CPU")',
     'log.warning(f"NVDEC is not available ({missing}); decoding on the CPU")', "tests/test_planar.py -k falls_back"),
    ("FFV1 planes in RGB order, not GBR", "vmatte/pixels.py", "for i in (1, 2, 0)", "for i in (0, 1, 2)",
     "tests/test_colour.py -k ffv1"),
    ("planes: a phone's rotation not applied to the converted picture", "vmatte/colour.py",
     "rgb = torch.rot90(rgb, self.turns, (1, 2))", "rgb = rgb", "tests/test_planar.py -k rotat"),
    ("planes: the live mirror not applied to the converted picture", "vmatte/colour.py",
     "return rgb.flip(2) if self.mirror else rgb", "return rgb", "tests/test_planar.py -k mirror"),
    ("subsampled chroma from the top row of each block, not averaged over both", "vmatte/colour.py",
     "x = pairs[:, :, :w] + pairs[:, :, w:]", "x = pairs[:, :, :w] * 2", "tests/test_colour.py"),
    ("planes: the first-frame check passes whatever the error", "vmatte/io/video_source.py",
     "if off <= planar.MAX_CODES:", "if off == off:", "tests/test_planar.py -k fault"),
    ("planes: the check compares the mean, not the worst pixel", "vmatte/io/planar.py",
     "return (got - want).abs().max().item()", "return (got - want).abs().mean().item()",
     "tests/test_planar.py -k fault"),
    ("NVDEC's failed first frame not reopened on the CPU", "vmatte/io/video_source.py",
     "            raise _PlanesFailed(why)  # reopened", "            pass  # reopened",
     "tests/test_planar.py -k nvdec"),
    ("NVDEC's first-frame decode error taken as a damaged file", "vmatte/io/video_source.py",
     'raise _PlanesFailed(f"NVDEC:', 'raise VmatteError(f"NVDEC:', "tests/test_planar.py -k nvdec"),
    ("ProRes 4444 back to prores_aw by default (opaque = 0.999)", "vmatte/options.py",
     'prores_encoder: str = option("ks",', 'prores_encoder: str = option("aw",',
     "tests/test_interop.py -k opaque_pixels_opaque"),
    ("frames tagged with the matrix only (ProRes headers: primaries, transfer unknown)", "vmatte/io/encoding.py",
     "frame.colorspace = frame.color_primaries = frame.color_trc = 1", "frame.colorspace = 1",
     "tests/test_interop.py -k ffprobe"),
    ("live H.264 keyframe interval left at x264's 250", "vmatte/io/encoding.py",
     "ctx.gop_size = max(1, round(float(fps) * enc.keyframe_seconds))", "pass", "tests/test_interop.py -k udp"),
    ("16-bit TIFF alpha not marked as alpha", "vmatte/io/stills.py",
     'extra = {"extrasamples": ["unassalpha"]} if layout == "rgba" else {}',
     'extra = {"extrasamples": ["unspecified"]} if layout == "rgba" else {}',
     "tests/test_interop.py -k tiff"),
    ("a server without byte ranges reported as a damaged file", "vmatte/io/video_source.py",
     "serves_byte_ranges(self.spec) is False", "False", "tests/test_interop.py -k index"),
    ("photo output types checked only after matting", "vmatte/photos.py",
     "            check_photo_target(p, LAYOUT[r])", "            pass", "tests/test_photos.py -k refused_before"),
    ("progress bar left at the header's estimate", "vmatte/pipeline.py", "                bar.total = written",
     "                pass", "tests/test_cli.py -k progress_bar"),
    ("first second counted over every frame", "vmatte/session.py", "if captured - self.first_capture < 1.0:",
     "if True:", "tests/test_live.py -k first_second"),
    ("workers outlive a killed driver (no watch on it)", "vmatte/scale/worker.py",
     'threading.Thread(target=_end_with, args=(driver[1],), daemon=True, name="vmatte-driver-watch").start()',
     "pass", "tests/test_scale.py -k takes_its_workers"),
    ("a one-process rerun leaves a killed scale-out's work folder", "vmatte/clip.py",
     "            shutil.rmtree(work_folder(Path(path)), ignore_errors=True)", "            pass",
     "tests/test_scale.py -k takes_its_workers"),
    ("a dead worker retried one time fewer than documented", "vmatte/scale/executors.py",
     "if tries[task.label] > RETRIES:", "if tries[task.label] >= RETRIES:", "tests/test_scale.py -k exactly_retries"),
    ("a resume that does not check the run's identity", "vmatte/scale/__init__.py",
     "if work.is_dir() and stamp.is_file() and stamp.read_text() == key:", "if work.is_dir() and stamp.is_file():",
     "tests/test_scale.py -k other_options"),
    ("the input-folder guard as a string prefix", "vmatte/io/atomic.py",
     "real.startswith(folder + os.sep)", "real.startswith(folder)", "tests/test_hostile.py -k starts_like"),
    ("the top of an option's range refused", "vmatte/optionspec.py",
     "(spec.high is not None and v > spec.high)", "(spec.high is not None and v >= spec.high)",
     "tests/test_options.py -k range_takes"),
    ("--stream counted among video streams only", "vmatte/io/video_source.py",
     "chosen = [s for s in videos if s.index == index]",
     "chosen = [s for i, s in enumerate(videos) if i == index]", "tests/test_hostile.py -k stream_numbers"),
    ("red and blue swapped in photos with alpha", "vmatte/io/stills.py",
     "cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB",
     "cv2.COLOR_BGRA2BGR if img.shape[2] == 4 else cv2.COLOR_BGR2RGB", "tests/test_hostile.py -k red_and_blue"),
    ("photo outputs named by stem when stems collide", "vmatte/roles.py",
     "return {p: p.name if stems.count(p.stem.casefold()) > 1 else p.stem for p in inputs}",
     "return {p: p.stem for p in inputs}", "tests/test_hostile.py -k collide"),
    ("a CMYK profile copied onto RGB outputs", "vmatte/io/stills.py",
     "        icc = srgb_profile() if converted is not None else None", "        pass",
     "tests/test_hostile.py -k cmyk"),
    ("a wrong-shape checkpoint reaches load_state_dict", "vmatte/weights.py",
     "        if key in own and tuple(t.shape) != tuple(own[key].shape):", "        if False:",
     "tests/test_weights.py -k wrong_shape"),
    ("a stream that changes size mid-way stretched into the first size", "vmatte/io/frames.py",
     "        if (w, h) != (info.width, info.height):\n            raise VmatteError(",
     "        if False:\n            raise VmatteError(", "tests/test_hostile.py -k changes_picture_size"),
    ("an encoder fed a picture of another size", "vmatte/io/video_writer.py",
     "        if (w, h) != (self.size[0], self.size[1]):", "        if False:",
     "tests/test_hostile.py -k changes_picture_size"),
    ("Ray's SIGTERM handler left in place (exit 1, a logged stack)", "vmatte/scale/executors.py",
     "                    if h is not None:\n                        signal.signal(s, h)",
     "                    if h is not None:\n                        pass", "tests/test_scale.py -k sigterm_to_a_ray"),
    ("encoders' planes made with BT.601 while tagged BT.709", "vmatte/pixels.py",
     'YuvFormat("bt709", False, spec.bits)', 'YuvFormat("bt601", False, spec.bits)',
     "tests/test_colour.py -k bt709_levels"),
    ("ProRes 4444 alpha at 8 bits", "vmatte/io/encoding.py",
     '{"profile": "4444", "alpha_bits": "16", **KS_FIXED}', '{"profile": "4444", "alpha_bits": "8", **KS_FIXED}',
     "tests/test_colour.py -k more_than_8"),
    ("camera-away repeats sent from the network's thread", "vmatte/session.py",
     "                        self.handoff.put_nowait(REPEAT)",
     "                        self.sink.write(self.last if self.last is not None else _placeholder(8, 8), 0)",
     "tests/test_live.py -k camera_loss"),
    ("report without its run table", "vmatte/clip.py", "about=describe_run(info, shots.matter, recipe, out.warmup))",
     "about={})", "tests/test_report.py -k what_was_run"),
    ("control: pages served without the token", "vmatte/control/server.py",
     "        if not secrets.compare_digest(token.encode(), self.token.encode()):", "        if False:",
     "tests/test_control.py -k need_the_token"),
    ("control: any Host taken (DNS rebinding)", "vmatte/control/server.py",
     "        if not self._host_ok(host):", "        if False:", "tests/test_control.py -k need_the_token"),
    ("control: another site's Origin taken", "vmatte/control/server.py",
     '        if origin is not None and origin != f"http://{host}":', "        if False:",
     "tests/test_control.py -k another_site"),
    ("control: a page may name a file as the background", "vmatte/control/__init__.py",
     "if spec == \"none\" or (uploaded is not None and spec == uploaded):",
     "if spec == \"none\" or (uploaded is not None and spec == uploaded) or spec.startswith(\"/\"):",
     "tests/test_control.py -k \"checked or another_site\""),
    ("control: a change said to apply a frame early", "vmatte/control/__init__.py",
     "            return self.frame + 1", "            return self.frame", "tests/test_control.py -k next_frame"),
    ("control: pause does not hold the picture", "vmatte/session.py", "            if settings.paused:",
     "            if False:", "tests/test_control.py -k reach_the_recording"),
    ("control: mirror from the options only", "vmatte/session.py", "                if self.controls.current().mirror:",
     "                if self.opts.mirror:", "tests/test_control.py -k reach_the_recording"),
    ("output page: alpha drawn as colour", "vmatte/control/output.html", '    ctx.filter = "url(#alpha)";',
     '    ctx.filter = "none";', "tests/test_control.py -k reach_the_recording"),
    ("live: the kept ratio measurement ignored", "vmatte/engine/probe.py", "    if found is not None:",
     "    if False:", "tests/test_control.py -k measured_once"),
    ("live: the ratio measurement kept without its look", "vmatte/engine/probe.py",
     '           "headroom": headroom, "min_side": min_side, **(cache_key or {})}',
     '           "headroom": headroom, "min_side": min_side}', "tests/test_control.py -k measured_once"),
    # --effort (issue 23): vmatte/bothways.py, the planner's cuts-only segments, the refusals
    ("best: backward stream not reset at a shot's end", "vmatte/bothways.py",
     "                    m.reset()\n", "                    pass\n", "tests/test_effort.py -k carries"),
    ("best: backward state kept one frame late", "vmatte/bothways.py",
     "                    if i + 1 in marks:\n                        self._keep(folder, i + 1, m)\n"
     "                    m(images[i - lo])\n",
     "                    m(images[i - lo])\n                    if i + 1 in marks:\n"
     "                        self._keep(folder, i + 1, m)\n", "tests/test_effort.py -k definition"),
    ("best: mirrored alpha not flipped back", "vmatte/bothways.py",
     "pha = (a.pha + pha_b + c.pha.flip(-1)) / 3", "pha = (a.pha + pha_b + c.pha) / 3",
     "tests/test_effort.py -k definition"),
    ("best: forward streams not settled", "vmatte/bothways.py", "        if shot_start:\n", "        if False:\n",
     "tests/test_effort.py -k definition"),
    ("best: a window is the whole shot", "vmatte/bothways.py",
     "self.window = max(self.chunk, min(64, MEMORY // (info.width * info.height * 3)))",
     "self.window = len(pts)", "tests/test_effort.py -k memory"),
    ("best: workers split between cuts", "vmatte/scale/plan.py", "later[0] if cuts_only else start + length",
     "start + length", "tests/test_scale.py -k best"),
    ("live takes --effort best", "vmatte/recipe.py", '        if kind == "live" and matting.effort == "best":\n',
     "        if False:\n",
     "tests/test_effort.py -k refuses"),
    ("fast is the default", "vmatte/recipe.py", '"fast": 0.5,', '"fast": 1.0,',
     "tests/test_effort.py -k default_effort"),
    ("live ignores --effort fast", "vmatte/recipe.py",
     "        matter = self.matter(self.ratio(width, height))\n",
     "        from .engine import auto_downsample_ratio\n        matter = self.matter(auto_downsample_ratio(width, "
     "height, m.subject) if m.downsample_ratio == 'auto' else float(m.downsample_ratio))\n",
     "tests/test_effort.py -k live_at_fast"),
    ("best: workers split a clip whose cuts are ignored", "vmatte/recipe.py",
     '        return "whole" if self.matting.scene_cuts == "ignore" else "cuts"\n',
     '        return "cuts"\n', "tests/test_scale.py -k best"),
    # The recipe, the output resolver, the live session's hand-over and the house rules.
    ("photos flattened on green by default", "vmatte/options.py", '"photo": "white"', '"photo": "green"',
     "tests/test_photos.py -k white_where_alpha"),
    ("the background given is ignored for the default", "vmatte/recipe.py",
     "return self.matting.background or BACKGROUND_DEFAULTS[self.kind]", "return BACKGROUND_DEFAULTS[self.kind]",
     "tests/test_photos.py -k white_where_alpha"),
    ("photos at the video ratio", "vmatte/recipe.py", '        if self.kind == "photo":\n', "        if False:\n",
     "tests/test_effort.py -k default_effort"),
    ("photo folder outputs take the video extensions", "vmatte/roles.py",
     'Path(p) / f"{name}{EXTENSIONS[kind][r]}"', "Path(p) / f\"{name}{EXTENSIONS['clip'][r]}\"",
     "tests/test_photos.py"),
    ("a page's new ratio never reaches the network", "vmatte/session.py",
     "            self.shots.matter = self.look.apply(settings, self.shots.matter)",
     "            self.look.apply(settings, self.shots.matter)", "tests/test_control.py -k hand_over"),
    ("a worker's encoder share set as another module's global", "vmatte/scale/worker.py",
     "    _SETUP.encode_workers = max(1, default_workers() // workers)",
     "    from ..io import encoder_pool\n    encoder_pool.WORKERS = max(1, default_workers() // workers)",
     "tests/test_house.py"),
    ("live probes the ratio for a file played as fast as it decodes", "vmatte/recipe.py",
     '        if m.downsample_ratio == "auto" and measure:', '        if m.downsample_ratio == "auto":',
     "tests/test_effort.py -k live_at_fast"),
    ("an unknown virtual camera backend reaches pyvirtualcam", "vmatte/io/sinks.py",
     "        if backend is not None and backend not in known:\n", "        if False:\n",
     "tests/test_live.py -k unknown_virtual"),
]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    (dest / "vmatte" / "registry").symlink_to(dest / "models")  # setuptools maps vmatte.registry to models/


def run_one(name: str, file: str, old: str, new: str, tests: str, timeout: int,
            control: bool = False) -> tuple[str, float]:
    """Apply one mutation to a fresh copy and run `tests`: caught (they fail), MISSED (they pass).
    control=True changes nothing: a control run must come out MISSED (the tests pass)."""
    with tempfile.TemporaryDirectory(prefix="vmatte-mutant-") as d:
        tree = Path(d)
        copy_tree(tree)
        code = (tree / file).read_text()
        if not control:
            if code.count(old) != 1:
                return f"NOT APPLIED ({code.count(old)} matches)", 0.0
            (tree / file).write_text(code.replace(old, new))
        args = shlex.split(tests)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        t0 = time.perf_counter()
        try:
            res = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args],
                                 cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "caught (timed out)", time.perf_counter() - t0
        took = time.perf_counter() - t0
        if control and res.returncode:
            print(res.stdout[-3000:], res.stderr[-1000:])
        if res.returncode == 5:
            return "NO TESTS RAN", took
        return ("caught" if res.returncode != 0 else "MISSED"), took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated mutant names (substrings)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    chosen = [m for m in MUTANTS if not a.only or any(s in m[0] for s in a.only.split(","))]
    if a.list:
        for m in chosen:
            print(f"{m[0]:45} {m[1]:28} {m[4]}")
        return
    for tests in dict.fromkeys(m[4] for m in chosen):  # the tests must pass on the code as it is
        verdict, took = run_one("control", "vmatte/__init__.py", "", "", tests, a.timeout, control=True)
        if verdict != "MISSED":
            sys.exit(f"control run failed for {tests} ({verdict}): fix the tests first")
    rows = []
    for name, file, old, new, tests in chosen:
        verdict, took = run_one(name, file, old, new, tests, a.timeout)
        rows.append((name, verdict))
        print(f"{verdict:14} {took:6.1f} s  {name}  ({file}; {tests})", flush=True)
    caught = sum(v.startswith("caught") for _, v in rows)
    print(f"{caught} of {len(rows)} caught")
    sys.exit(0 if caught == len(rows) else 1)


if __name__ == "__main__":
    main()
