"""Photos as first-class input: every format in and out read back, EXIF orientation, ICC profiles, a
folder of mixed photos with names kept and no state shared, bad images as one line."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from clitools import assert_clean_failure
from clitools import vmatte as run_cli
from conftest import person_frames
from vmatte.io.stills import read_photo

FAST = ["--still-passes", "1", "--downsample-ratio", "0.5", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A portrait-like photo, 240 wide and 160 high, as a JPEG with an sRGB profile."""
    d = tmp_path_factory.mktemp("photos")
    p = d / "person.jpg"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(person_frames(1, 240, 160)[0]).save(p, "JPEG", quality=95, icc_profile=icc)
    return p


def test_photo_to_png_webp_tif_and_matte(photo, out):
    res = run_cli("convert", photo, "--rgba", out / "cut.png", "--matte", out / "m.png", *FAST)
    assert res.returncode == 0, res.stderr
    cut = Image.open(out / "cut.png")
    assert cut.mode == "RGBA" and cut.size == (240, 160)
    assert cut.info.get("icc_profile") == Image.open(photo).info["icc_profile"]  # the profile is kept
    rgba = np.asarray(cut).astype(float) / 255
    matte = cv2.imread(str(out / "m.png"), cv2.IMREAD_UNCHANGED)
    assert matte.dtype == np.uint16 and matte.shape == (160, 240)
    assert np.abs(rgba[..., 3] - matte / 65535).max() <= 1 / 255  # one alpha, two writers
    assert rgba[..., 3].min() < 0.05 and rgba[..., 3].max() > 0.95  # a cut-out, not a flat matte
    src = np.asarray(Image.open(photo)).astype(float) / 255
    solid = rgba[..., 3] > 0.9
    assert np.abs(rgba[..., :3][solid] - src[solid]).mean() < 0.05  # straight alpha: the person's own colours
    res = run_cli("convert", photo, "--rgba", out / "cut.webp", "--foreground", out / "fg.png", *FAST)
    assert res.returncode == 0, res.stderr
    assert Image.open(out / "cut.webp").mode == "RGBA"
    res = run_cli("convert", photo, "-o", out / "cut.tif", *FAST)
    assert res.returncode == 0, res.stderr
    tif = cv2.imread(str(out / "cut.tif"), cv2.IMREAD_UNCHANGED)
    assert tif.dtype == np.uint16 and tif.shape == (160, 240, 4)


def test_flattened_jpeg_is_white_where_alpha_is_zero(photo, out):
    res = run_cli("convert", photo, "-o", out / "shop.jpg", "--matte", out / "m.png", "--quality", "90", *FAST)
    assert res.returncode == 0, res.stderr
    flat = np.asarray(Image.open(out / "shop.jpg")).astype(int)
    alpha = cv2.imread(str(out / "m.png"), cv2.IMREAD_UNCHANGED) / 65535
    clear = alpha < 0.01
    away = cv2.erode(clear.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0  # beyond JPEG's ringing at the edge
    assert away.sum() > 1000 and flat[away].min() >= 250 and flat[clear].mean() > 252
    res = run_cli("convert", photo, "--composite", out / "red.png", "--background", "#ff0000", *FAST)
    assert res.returncode == 0, res.stderr
    red = np.asarray(Image.open(out / "red.png"))
    assert (red[clear][:, 0] > 250).all() and (red[clear][:, 1:] < 5).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_do(tmp_path, orientation):
    """A landscape picture stored with each EXIF orientation reads back exactly as Pillow's
    exif_transpose shows it (what viewers display)."""
    img = Image.fromarray(person_frames(1, 96, 64)[0])
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    img.save(p, exif=exif)
    want = np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
    got = read_photo(p, 10**9).image
    assert got.shape == want.shape and np.array_equal(got, want)


def test_every_input_mode_is_accepted(tmp_path, out):
    base = person_frames(1, 120, 80)[0]
    Image.fromarray(base).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(base).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(base).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    Image.fromarray(np.dstack([base, np.full(base.shape[:2], 128, np.uint8)])).save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "deep.tif"), base[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "deep.png"), base[..., ::-1].astype(np.uint16) * 257)
    for name in ("cmyk.jpg", "grey.png", "palette.png", "alpha.png", "deep.tif", "deep.png"):
        ph = read_photo(tmp_path / name, 10**9)
        assert ph.image.shape == (80, 120, 3), name
        assert ph.image.dtype == (np.uint16 if name.startswith("deep") else np.uint8), name
    res = run_cli("convert", tmp_path / "deep.png", "--rgba", out / "deep_cut.png", *FAST)
    assert res.returncode == 0, res.stderr
    assert cv2.imread(str(out / "deep_cut.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # 16 bits in, 16 out


def test_folder_of_mixed_photos_keeps_names_and_shares_no_state(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    frames = person_frames(3, 160, 120, seed=4)
    Image.fromarray(frames[0]).save(src / "a.jpg")
    Image.fromarray(np.ascontiguousarray(frames[1].transpose(1, 0, 2))).save(src / "b_portrait.png")  # 120x160
    Image.fromarray(cv2.resize(frames[2], (200, 90))).save(src / "c_wide.webp")
    (src / "notes.txt").write_text("not a photo")
    res = run_cli("convert", src, "--rgba", f"{dst}/", *FAST)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b_portrait.png", "c_wide.png"]
    assert Image.open(dst / "b_portrait.png").size == (120, 160)
    alone = tmp_path / "alone"
    alone.mkdir()
    res = run_cli("convert", src / "c_wide.webp", "--rgba", alone / "c.png", *FAST)
    assert res.returncode == 0, res.stderr
    assert np.array_equal(np.asarray(Image.open(dst / "c_wide.png")), np.asarray(Image.open(alone / "c.png")))
    res = run_cli("convert", src, "--rgba", f"{dst}/", *FAST[:-1])  # a rerun skips what is done
    assert res.returncode == 0 and res.stdout.count("outputs already complete") == 3 and "3 skipped" in res.stdout


def test_bad_images_are_one_line(photo, tmp_path, out):
    data = photo.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not an image\n" * 20)
    for name, hint in (("cut.jpg", "is damaged or truncated"), ("text.jpg", "is not an image")):
        assert_clean_failure(run_cli("convert", tmp_path / name, "-o", out / "o.png", *FAST), out, hint)
    assert_clean_failure(run_cli("convert", photo, "-o", out / "o.png", "--max-pixels", "1000", *FAST), out,
                         "above --max-pixels 1000")
    assert_clean_failure(run_cli("convert", photo, "--rgba", out / "o.jpg", *FAST), out, "JPEG has no alpha")
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "good.jpg").write_bytes(data)
    (batch / "cut.jpg").write_bytes(data[: len(data) // 2])
    res = run_cli("convert", batch, "--rgba", f"{tmp_path / 'bo'}/", *FAST)
    assert res.returncode == 1 and "cut.jpg" in res.stderr and "Traceback" not in res.stderr
    assert [p.name for p in (tmp_path / "bo").iterdir()] == ["good.png"]


def test_still_flip_is_symmetric(photo, tmp_path):
    """With --still-flip the photo and its mirror are both matted and averaged: the mirrored photo's matte
    is the mirror of the photo's."""
    mirrored = tmp_path / "mirrored.png"
    Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    same = tmp_path / "same.png"
    Image.open(photo).save(same)
    for src, dst in ((same, "a.png"), (mirrored, "b.png")):
        res = run_cli("convert", src, "--matte", tmp_path / dst, "--still-flip", *FAST)
        assert res.returncode == 0, res.stderr
    a = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).astype(int)
    b = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(a - b[:, ::-1]).max() <= 2  # 16-bit codes: rounding only


@pytest.mark.parametrize("args, hint", [
    (["--rgba", "cut.jpg"], "JPEG has no alpha"),
    (["--matte", "m.jpeg"], "JPEG has no alpha"),
    (["--composite", "c.gif"], "unknown photo output type"),
])
def test_a_photo_output_type_that_cannot_work_is_refused_before_the_model_loads(photo, tmp_path, out, args, hint):
    """Known from the name alone, so refused before anything is read: the input here is a truncated photo,
    whose own refusal (reading comes before the model loads) would win if the output were checked later."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo.read_bytes()[:300])
    res = run_cli("convert", broken, *[out / a if a.count(".") else a for a in args], *FAST)
    assert_clean_failure(res, out, hint)


def test_a_folder_run_that_writes_nothing_leaves_no_folders(tmp_path):
    """Every photo in the folder fails (here: truncated): the output folders it made are removed again."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(person_frames(1, 64, 48)[0]).save(src / "a.jpg")
    (src / "a.jpg").write_bytes((src / "a.jpg").read_bytes()[:200])
    res = run_cli("convert", src, "--rgba", f"{tmp_path / 'cut'}/", "--matte", f"{tmp_path / 'mattes'}/", *FAST)
    assert res.returncode == 1 and "failed   " in res.stderr, res.stderr  # the photo failed, not the options
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_photo_run_says_what_it_did(photo, out, tmp_path):
    """One photo: one line naming it a photo and where it went. A folder: a line per photo and the count; its
    progress bar is for a terminal only, so a log (stdout and stderr not terminals) gets no carriage-return
    counters."""
    res = run_cli("convert", photo, "-o", out / "cut.png", "--still-passes", "1", "--downsample-ratio", "0.5",
                  "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("1 photo in ") and str(out / "cut.png") in res.stdout, res.stdout
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.png"):
        Image.fromarray(person_frames(1, 64, 48)[0]).save(folder / name)
    res = run_cli("convert", folder, "--rgba", f"{tmp_path / 'cuts'}/", "--still-passes", "1", "--downsample-ratio",
                  "0.5", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [x.split()[0] for x in lines[:3]] == ["done"] * 3 and lines[-1] == "3 matted, 0 skipped, 0 failed", lines
    assert "\r" not in res.stdout + res.stderr


def test_one_photo_into_output_folders_is_named_after_it_with_each_roles_photo_type(photo, out):
    """`--rgba cuts/ --composite flat/ --matte mattes/` for one photo: each folder gets the photo's name with
    its role's still type (a cut-out PNG, a flattened JPEG, a 16-bit matte PNG), never a video's extension."""
    res = run_cli("convert", photo, "--rgba", f"{out / 'cuts'}/", "--composite", f"{out / 'flat'}/", "--matte",
                  f"{out / 'mattes'}/", *FAST)
    assert res.returncode == 0, res.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["cuts/person.png", "flat/person.jpg", "mattes/person.png"]
    assert Image.open(out / "cuts" / "person.png").mode == "RGBA"
    assert Image.open(out / "flat" / "person.jpg").format == "JPEG"
    assert cv2.imread(str(out / "mattes" / "person.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
