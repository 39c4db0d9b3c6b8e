"""Helpers shared by the twostep-enroll tests: running the tool (plainly or in
a pty), turning terminal QR codes back into images, decoding with zbarimg,
computing codes with oathtool. Python standard library + pexpect only."""

import io
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
# Soft checks: a failed one is recorded, the test goes on, finish() exits 1.
from twostep_harness import check, finish  # noqa: E402,F401 (the enroll tests' API)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
URI_RE = re.compile(r"otpauth://[^\s\x1b]+")
KEY_RE = re.compile(r"Manual entry key \([^)]*\):\r?\n\s+([A-Z2-7 ]+?)\r?\n")
PROMPT = "Enter the code from the app to confirm: "

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_CONFIRM_FAILED = 0, 1, 2, 3
EXIT_IO, EXIT_NOT_ENROLLED, EXIT_INTERRUPTED = 4, 5, 130

def workdir():
    path = tempfile.mkdtemp(prefix="twostep-enroll-test-")
    return path


def cleanup(path):
    shutil.rmtree(path, ignore_errors=True)


def run(tool, *args, stdin=None, env=None):
    """Runs the tool without a terminal; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([tool, *args], input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=60)


def pty_env(extra=None):
    env = dict(os.environ)
    env.update({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"})
    env.update(extra or {})
    return env


def spawn(tool, *args, rows=24, columns=80, env=None):
    """Starts the tool in a pty of the given size."""
    child = pexpect.spawn(tool, list(args), env=pty_env(env), encoding="utf-8",
                          dimensions=(rows, columns), timeout=20)
    child.logfile_read = io.StringIO()  # everything shown: transcript()
    return child


def transcript(child):
    return child.logfile_read.getvalue()


def run_in_pty(tool, *args, rows=24, columns=80, env=None):
    """Runs to the end in a pty; returns (exit status, everything it printed)."""
    child = spawn(tool, *args, rows=rows, columns=columns, env=env)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def secret_of(uri):
    match = re.search(r"[?&]secret=([A-Z2-7]+)", uri)
    return match.group(1) if match else None


def oathtool(key, algorithm="SHA1", digits=6, period=30, at=None, hotp_counter=None):
    """The code an authenticator app would show now (or at Unix time `at`)."""
    if hotp_counter is not None:
        args = ["oathtool", "--hotp", "-b", "-d", str(digits), "-c", str(hotp_counter), key]
    else:
        args = ["oathtool", "--totp=" + algorithm, "-b", "-d", str(digits),
                "-s", "%ds" % period, key]
        if at is not None:
            args[1:1] = ["-N", "@%d" % at]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def wrong_code(key, digits=6, period=30, algorithm="SHA1"):
    """A well-formed code that matches no step near now (window 1 and more)."""
    now = int(time.time())
    near = {oathtool(key, algorithm, digits, period, at=now + d * period) for d in range(-3, 4)}
    candidate = 0
    while ("%0*d" % (digits, candidate)) in near:
        candidate += 1
    return "%0*d" % (digits, candidate)


def wait_for_fresh_step(period=30, margin=3):
    """Avoids typing a code a moment before its step ends."""
    remaining = period - (int(time.time()) % period)
    if remaining < margin:
        time.sleep(remaining + 0.2)


# --- images -----------------------------------------------------------------

def write_png(path, matrix, scale=8, border=4):
    """A black-on-white greyscale PNG of a module matrix (list of rows of bool)."""
    size = len(matrix)
    side = (size + 2 * border) * scale
    raw = bytearray()
    for py in range(side):
        raw.append(0)  # filter: none
        my = py // scale - border
        for px in range(side):
            mx = px // scale - border
            dark = 0 <= my < size and 0 <= mx < len(matrix[my]) and matrix[my][mx]
            raw.append(0 if dark else 255)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as out:
        out.write(png)


def zbar_decode(path):
    """The text of the one QR code in an image file, or None."""
    result = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def utf8_qr_lines(output):
    """The lines of a utf8 terminal QR: they start with black-on-white."""
    return [line for line in output.replace("\r", "").split("\n")
            if line.startswith("\x1b[30;47m")]


def utf8_qr_matrix(output):
    """Character cells back to modules: each cell is two modules tall. A
    space takes its colour from the background (black 40, white 47); a half
    block is black (30) on white (47). Anything else is an error."""
    lines = utf8_qr_lines(output)
    matrix = []
    for line in lines:
        top, bottom = [], []
        background_dark = None
        for code, char in re.findall(r"\x1b\[([0-9;]*)m|(.)", line):
            if code:
                params = code.split(";")
                if "40" in params:
                    background_dark = True
                elif "47" in params:
                    background_dark = False
                continue
            if char == " ":
                if background_dark is None:
                    raise ValueError("cell drawn before any colour was set")
                top.append(background_dark)
                bottom.append(background_dark)
            elif char in "\u2580\u2584":
                if background_dark is not False:
                    raise ValueError("half block not drawn black on white")
                top.append(char == "\u2580")
                bottom.append(char == "\u2584")
            else:
                raise ValueError("unexpected character %r in utf8 QR" % char)
        matrix.append(top)
        matrix.append(bottom)
    return matrix


def ansi_qr_lines(output):
    return [line for line in output.replace("\r", "").split("\n")
            if line.startswith("\x1b[4") and line.endswith("\x1b[0m")]


def ansi_qr_matrix(output):
    """Background colours back to modules: two spaces per module."""
    matrix = []
    for line in ansi_qr_lines(output):
        row, dark = [], None
        for token in re.findall(r"\x1b\[(\d+)m|( +)", line):
            code, spaces = token
            if code:
                if code in ("40", "47"):
                    dark = code == "40"
                continue
            if len(spaces) % 2 != 0 or dark is None:
                raise ValueError("malformed ansi QR row")
            row.extend([dark] * (len(spaces) // 2))
        matrix.append(row)
    return matrix


def ascii_qr_matrix(output):
    """From the first to the last line drawing dark modules ("##")."""
    lines = output.replace("\r", "").split("\n")
    drawn = [i for i, line in enumerate(lines) if "##" in line]
    if not drawn:
        return []
    width = max(len(line) for line in lines[drawn[0]:drawn[-1] + 1])
    return [[line.ljust(width)[i:i + 2] == "##" for i in range(0, width, 2)]
            for line in lines[drawn[0]:drawn[-1] + 1]]


def svg_matrix(svg_text):
    """The dark modules of our SVG: one path of "Mx yhNv1h-Nz" runs."""
    match = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg_text)
    side = int(match.group(1))
    matrix = [[False] * side for _ in range(side)]
    path = re.search(r'<path[^>]* d="([^"]*)"', svg_text).group(1)
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        for dx in range(int(run)):
            matrix[int(y)][int(x) + dx] = True
    return matrix
