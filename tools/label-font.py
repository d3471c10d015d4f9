#!/usr/bin/env python3
"""Renders assets/fonts/label-font.png: printable ASCII (32..126) of Hack Regular at 16 px,
one 10x20 cell per character, baseline at row 15, white on black. The replay animation
(src/replay.rs) draws its captions from it, so the command line needs no font rasteriser.
Needs ImageMagick's `convert` and egui's default fonts in the cargo registry."""
import glob
import os
import subprocess
import tempfile

FONT = glob.glob(os.path.expanduser(
    "~/.cargo/registry/src/*/epaint_default_fonts-*/fonts/Hack-Regular.ttf"))[0]
OUT = os.path.join(os.path.dirname(__file__), "..", "assets", "fonts", "label-font.png")

with tempfile.TemporaryDirectory() as tmp:
    cells = []
    for code in range(32, 127):
        # ImageMagick expands % and \ in annotations.
        text = chr(code).replace("\\", "\\\\").replace("%", "%%")
        cell = os.path.join(tmp, f"{code:03d}.png")
        subprocess.run(["convert", "-size", "10x20", "xc:black", "-font", FONT,
                        "-pointsize", "16", "-fill", "white", "-annotate", "+0+15", text,
                        "-colorspace", "Gray", "-depth", "8", cell], check=True)
        cells.append(cell)
    subprocess.run(["convert", *cells, "+append", "+repage", "-colorspace", "Gray",
                    "-depth", "8", "-strip", OUT], check=True)
