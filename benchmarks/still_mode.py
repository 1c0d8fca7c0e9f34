"""Still mode for photos, measured: MAD (x1e3) of the alpha against the P3M-Net matte beside each of the
four P3M portraits in ../shared/media/portraits, for settle passes x internal short side, and with a
horizontal-flip average. NOTE: that matte is another model's prediction, not ground truth: this is
agreement with it. Plain video-mode RVM (no settling, short side 270) is the baseline.

    python benchmarks/still_mode.py [--out benchmarks/results]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from common import MEDIA, machine, save_result

PASSES = (0, 1, 3, 8)
SIDES = (270, 384, 512, 768)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    a = ap.parse_args()
    import torch

    import vmatte
    from vmatte.engine import Matter
    from vmatte.io.stills import read_photo

    folder = MEDIA / "portraits"
    names = sorted(p.stem for p in folder.glob("p3m_*.jpg"))
    if not names:
        raise SystemExit(f"needs the P3M portraits in {folder}")
    print(f"machine: {machine()}")
    model = vmatte.load_model(device="cpu")
    rows = []
    for name in names:
        img = read_photo(folder / f"{name}.jpg", 10**9).image
        ref = cv2.imread(str(folder / f"{name}_alpha_p3mnet_pred.png"), cv2.IMREAD_GRAYSCALE) / 255.0
        h, w = img.shape[:2]
        for side in SIDES:
            ratio = min(1.0, side / min(w, h))
            m = Matter(model, ratio, "onnxruntime")
            for passes in PASSES:
                for flip in (False, True):
                    alphas = []
                    for im in ([img, np.ascontiguousarray(img[:, ::-1])] if flip else [img]):
                        m.reset()
                        for _ in range(passes):
                            m.settle(im)
                        with torch.inference_mode():
                            alphas.append(m(im).pha[0, 0].numpy())
                    if flip:
                        alphas[1] = alphas[1][:, ::-1]
                    alpha = np.mean(alphas, 0)
                    mad = float(np.abs(alpha - ref).mean() * 1e3)
                    rows.append({"portrait": name, "short_side": side, "passes": passes, "flip": flip,
                                 "mad_x1e3": round(mad, 2)})
        print(f"  {name} {w}x{h}: " + ", ".join(f"{r['short_side']}/{r['passes']}{'f' if r['flip'] else ''} "
                                                f"{r['mad_x1e3']:.1f}" for r in rows if r["portrait"] == name))
    print(f"{'short side':>10} {'passes':>6} {'flip':>5} " + " ".join(f"{n[-8:]:>9}" for n in names) + "     mean")
    table = []
    for side in SIDES:
        for passes in PASSES:
            for flip in (False, True):
                mads = [next(r["mad_x1e3"] for r in rows if r["portrait"] == n and r["short_side"] == side
                             and r["passes"] == passes and r["flip"] == flip) for n in names]
                table.append({"short_side": side, "passes": passes, "flip": flip, "mads": mads,
                              "mean": round(float(np.mean(mads)), 2)})
                print(f"{side:10d} {passes:6d} {str(flip):>5} " + " ".join(f"{v:9.2f}" for v in mads)
                      + f" {np.mean(mads):8.2f}")
    base = next(t for t in table if t["short_side"] == 270 and t["passes"] == 0 and not t["flip"])
    fair = [t for t in table if all(v <= b * 1.05 for v, b in zip(t["mads"], base["mads"]))]
    best = min(fair or table, key=lambda t: t["mean"])
    print(f"baseline (video mode, side 270, no settling): mean {base['mean']}; best that is no worse on any "
          f"portrait: side {best['short_side']}, passes {best['passes']}, flip {best['flip']}: mean {best['mean']}")
    save_result("still-mode", {"portraits": names, "reference": "P3M-Net predictions (not ground truth)",
                               "table": table, "baseline": base, "best": best}, a.out)


if __name__ == "__main__":
    main()
