#!/usr/bin/env python3
"""Turns a terminal capture with colours (tmux capture-pane -e -p) into an SVG
picture: half-block QR modules become rectangles, text stays text.
  ansi_to_svg.py CAPTURE > picture.svg
Used for docs/images/enroll-terminal.svg (see docs/images/README.md)."""
import html
import re
import sys

CELL_W, CELL_H = 9, 18
PALETTE = {0: "#000000", 1: "#cd3131", 2: "#0dbc79", 3: "#e5e510", 4: "#2472c8",
           5: "#bc3fbc", 6: "#11a8cd", 7: "#ffffff"}
DEFAULT_FG, DEFAULT_BG = "#d4d4d4", "#1e1e1e"


def cells(line, state):
    """(char, fg, bg) of each cell; state = [fg, bg], carried from line to
    line (tmux writes only the changes)."""
    fg, bg = state
    for token in re.split(r"(\x1b\[[0-9;]*m)", line):
        if token.startswith("\x1b["):
            codes = [int(c) for c in token[2:-1].split(";") if c] or [0]
            for code in codes:
                if code == 0:
                    fg, bg = DEFAULT_FG, DEFAULT_BG
                elif 30 <= code <= 37:
                    fg = PALETTE[code - 30]
                elif code == 39:
                    fg = DEFAULT_FG
                elif 40 <= code <= 47:
                    bg = PALETTE[code - 40]
                elif code == 49:
                    bg = DEFAULT_BG
            state[:] = [fg, bg]
            continue
        for ch in token:
            yield ch, fg, bg


def main(path):
    lines = open(path, encoding="utf-8").read().rstrip("\n").split("\n")
    while lines and not re.sub(r"\x1b\[[0-9;]*m", "", lines[-1]).strip():
        lines.pop()
    width = 80
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * CELL_W}" '
           f'height="{len(lines) * CELL_H}" font-family="DejaVu Sans Mono, monospace" '
           f'font-size="15">',
           f'<rect width="100%" height="100%" fill="{DEFAULT_BG}"/>']
    state = [DEFAULT_FG, DEFAULT_BG]
    for row, line in enumerate(lines):
        y = row * CELL_H
        run = []  # consecutive text characters of one colour: one <text>

        def flush():
            if run:
                x0, colour = run[0][0], run[0][2]
                text = html.escape("".join(c for _, c, _ in run))
                out.append(f'<text x="{x0}" y="{y + CELL_H - 5}" fill="{colour}" '
                           f'textLength="{len(run) * CELL_W}" xml:space="preserve">{text}</text>')
                run.clear()

        for col, (ch, fg, bg) in enumerate(cells(line, state)):
            x = col * CELL_W
            is_text = ch not in " \u2580\u2584\u2588"
            if not is_text or (run and run[-1][2] != fg):
                if not (ch == " " and run and bg == DEFAULT_BG):
                    flush()
            if bg != DEFAULT_BG:
                out.append(f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{bg}"/>')
            if ch == "\u2580":
                out.append(f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H // 2}" fill="{fg}"/>')
            elif ch == "\u2584":
                out.append(f'<rect x="{x}" y="{y + CELL_H // 2}" width="{CELL_W}" height="{CELL_H // 2}" fill="{fg}"/>')
            elif ch == "\u2588":
                out.append(f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{fg}"/>')
            elif is_text or (ch == " " and run):
                run.append((x, ch, fg))
        while run and run[-1][1] == " ":
            run.pop()
        flush()
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
