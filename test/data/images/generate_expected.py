#!/usr/bin/env python3
"""Dev-only fixture generator (not part of the product, which has no Python).

Makes small test images in several formats and records what LaVIN's reference preprocessing does to
them with Pillow 9.4 (the version that made test/fixtures/lavin-tiny-ref), so
test/unit/image.test.ts can check server/engine/image.ts pixel for pixel:

    expected = Image.open(path).convert('RGB').resize((w, h), Image.BICUBIC)

    apt-get install python3-pil python3-numpy      # Debian bookworm: Pillow 9.4.0
    /usr/bin/python3 test/data/images/generate_expected.py

Writes the inputs under inputs/, each expected result as a lossless RGB PNG under expected/, and
cases.json listing them.
"""
import io
import json
import os
import struct

import numpy as np
import PIL
from PIL import Image, ImageCms, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)


def scene(w, h):
    """Gradients, hard-edged shapes, thin lines and a little noise: smooth and sharp content."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(x / 7.0) * np.cos(y / 5.0)
    arr = np.stack([r, g, b], -1) + rng.normal(0, 3, (h, w, 3))
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([w // 8, h // 6, w // 3, h // 2], fill=(250, 20, 30))
    d.ellipse([w // 2, h // 3, w - 4, h - 3], fill=(10, 200, 60), outline=(0, 0, 0))
    for i in range(0, w, 9):
        d.line([i, 0, i + h // 2, h - 1], fill=(255, 255, 255) if i % 2 else (0, 0, 0), width=1)
    for row in range(3):
        for col in range(6):
            d.rectangle([4 + col * 11, 4 + row * 6, 12 + col * 11, 7 + row * 6], fill=(20, 20, 20))
    return im


def swapped_primaries_profile():
    """An sRGB-derived RGB ICC profile with the red and blue primaries swapped: a colour-managing
    decoder would visibly change the pixels; PIL (and so the reference) ignores it."""
    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", b[128:132])[0]
    entries = {}
    for i in range(count):
        at = 132 + 12 * i
        entries[bytes(b[at:at + 4])] = at
    r, bl = entries[b"rXYZ"], entries[b"bXYZ"]
    b[r + 4:r + 12], b[bl + 4:bl + 12] = b[bl + 4:bl + 12], b[r + 4:r + 12]
    return bytes(b)


def save(im, name, **kw):
    path = os.path.join(HERE, "inputs", name)
    im.save(path, **kw)
    return name


def main():
    os.makedirs(os.path.join(HERE, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
    inputs = []
    # (file, description, [output sizes])
    inputs.append((save(scene(400, 267), "rgb-400x267.png"), "RGB PNG, downscale both axes", [(224, 224), (37, 61)]))
    inputs.append((save(scene(150, 97), "rgb-150x97.png"), "RGB PNG, upscale both axes", [(224, 224)]))
    inputs.append((save(scene(224, 300), "rgb-224x300.png"), "width already 224: vertical pass only", [(224, 224)]))
    inputs.append((save(scene(224, 224), "rgb-224x224.png"), "already 224x224: no resampling", [(224, 224)]))
    rgba = scene(97, 61).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 97).astype(np.uint8), (61, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))
    inputs.append((save(rgba, "rgba-97x61.png"), "RGBA PNG with an alpha ramp: alpha is dropped", [(224, 224)]))
    inputs.append((save(scene(150, 100).convert("L"), "grey-150x100.png"), "8-bit grey PNG", [(224, 224)]))
    inputs.append((save(scene(120, 90).convert("P", palette=Image.ADAPTIVE, colors=32), "palette-120x90.png"),
                   "palette PNG", [(224, 224)]))
    inputs.append((save(scene(300, 200), "photo-300x200.jpg", quality=85), "JPEG 4:2:0 q85", [(224, 224)]))
    inputs.append((save(scene(257, 190), "photo-444-257x190.jpg", quality=92, subsampling=0), "JPEG 4:4:4 q92",
                   [(224, 224)]))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    inputs.append((save(scene(240, 160), "exif-rotate-240x160.jpg", quality=90, exif=exif.tobytes()),
                   "JPEG with EXIF orientation 6: PIL does not rotate", [(224, 224)]))
    inputs.append((save(scene(130, 77), "lossless-130x77.webp", lossless=True), "lossless WebP", [(224, 224)]))
    frame0 = scene(80, 60).convert("P", palette=Image.ADAPTIVE, colors=64)
    frame1 = Image.new("RGB", (80, 60), (0, 0, 255)).convert("P", palette=Image.ADAPTIVE, colors=64)
    inputs.append((save(frame0, "anim-80x60.gif", save_all=True, append_images=[frame1], duration=100, loop=0),
                   "animated GIF: first frame", [(224, 224)]))
    inputs.append((save(scene(110, 70), "icc-110x70.png", icc_profile=swapped_primaries_profile()),
                   "PNG with an embedded ICC profile (R/B primaries swapped): PIL ignores it", [(224, 224)]))
    inputs.append((save(scene(110, 70), "icc-110x70.jpg", quality=90, icc_profile=swapped_primaries_profile()),
                   "JPEG with an embedded ICC profile (R/B primaries swapped): PIL ignores it", [(224, 224)]))

    cases = []
    for name, description, sizes in inputs:
        with Image.open(os.path.join(HERE, "inputs", name)) as src:
            rgb = src.convert("RGB")
            mode = src.mode
        for w, h in sizes:
            out = rgb.resize((w, h), Image.BICUBIC)
            exp_name = f"{name.replace('.', '-')}.{w}x{h}.png"
            assert not any(c["expected"].endswith("/" + exp_name) for c in cases), exp_name
            out.info.clear()  # no ICC profile (or anything else) carried into the expected file
            out.save(os.path.join(HERE, "expected", exp_name))
            cases.append({"input": f"inputs/{name}", "pil_mode": mode, "description": description,
                          "width": w, "height": h, "expected": f"expected/{exp_name}",
                          "source_size": list(rgb.size)})
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"generator": "test/data/images/generate_expected.py", "pillow": PIL.__version__,
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"Pillow {PIL.__version__}: {len(cases)} cases")


if __name__ == "__main__":
    main()
