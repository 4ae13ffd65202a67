"""Small image datasets the pipeline tests build on disk."""
import io

import numpy as np
from PIL import Image


def save_image(path, image, fmt, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def solid_colour(index):
    """A colour unique to file `index` (survives crops and flips)."""
    return (index * 37 % 256, index * 11 % 256, 255 - index * 5 % 256)


def make_image_folder(root, size):
    """root/train: 3 classes x 6 solid-colour PNGs (widths size..size+20);
    root/val: odd but valid files (6) and bad files (4), sorted so bad ones come first.

    Returns (root, {train file index: colour}, {val file name: source pixels}).
    """
    colours = {}
    for c, name in enumerate(["cat", "dog", "eel"]):
        for k in range(6):
            index = c * 6 + k
            colours[index] = solid_colour(index)
            save_image(root / "train" / name / f"img_{k}.png",
                       Image.new("RGB", (size + 4 * k, size), colours[index]), "PNG")
    rng = np.random.default_rng(0)
    odd = {}
    pixels = rng.integers(0, 256, (size, size + 6, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    odd["b_png_named.JPEG"] = pixels
    save_image(root / "val" / "cat" / "b_png_named.JPEG", image, "PNG")
    save_image(root / "val" / "cat" / "c_cmyk.jpg", image.convert("CMYK"), "JPEG")
    save_image(root / "val" / "cat" / "d_gray.jpg", image.convert("L"), "JPEG")
    save_image(root / "val" / "dog" / "e_rgba.png", image.convert("RGBA"), "PNG")
    odd["e_rgba.png"] = pixels
    save_image(root / "val" / "dog" / "f_progressive.jpg", image, "JPEG", progressive=True)
    good = save_image(root / "val" / "eel" / "g_good.jpg", image, "JPEG")
    (root / "val" / "cat" / "a_empty.jpg").write_bytes(b"")
    (root / "val" / "cat" / "a_text.jpg").write_bytes(b"hello, not an image\n" * 20)
    (root / "val" / "dog" / "a_truncated.jpg").write_bytes(good[: len(good) // 2])
    bomb = bytearray(save_image(root / "val" / "dog" / "a_bomb.png", Image.new("RGB", (1, 1)),
                                "PNG"))
    bomb[16:24] = (30000).to_bytes(4, "big") * 2
    (root / "val" / "dog" / "a_bomb.png").write_bytes(bytes(bomb))
    (root / "val" / "eel" / "notes.txt").write_text("not listed: not an image extension")
    return root, colours, odd
