"""Writes the hostile and unusual image files that src/data/preprocess.rs tests decode
(tests/fixtures/images/). Needs Pillow. Each file is small; what it stands for is in its name.

- palette.png: 8×8 indexed-colour PNG, left half red, right half blue.
- cmyk.jpg: 16×16 CMYK JPEG (Adobe marker), left half pure cyan, right half pure yellow.
- bomb.png: a valid 1-bit PNG of 20,000×20,000 pixels (about 50 KB) that would need 1.2 GB
  as 8-bit RGB: a decompression bomb.
"""
import os
import struct
import zlib

from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "images")


def palette():
    image = Image.new("P", (8, 8))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    for y in range(8):
        for x in range(8):
            image.putpixel((x, y), 0 if x < 4 else 1)
    image.save(os.path.join(OUT, "palette.png"))


def cmyk():
    image = Image.new("CMYK", (16, 16))
    for y in range(16):
        for x in range(16):
            image.putpixel((x, y), (255, 0, 0, 0) if x < 8 else (0, 0, 255, 0))
    image.save(os.path.join(OUT, "cmyk.jpg"), quality=95)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb(side=20000):
    row = b"\x00" + b"\x00" * (side // 8)  # filter byte + 1 bit per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    with open(os.path.join(OUT, "bomb.png"), "wb") as f:
        f.write(png)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    palette()
    cmyk()
    bomb()
