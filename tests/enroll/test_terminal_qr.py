#!/usr/bin/python3
"""The terminal QR codes, captured from a real pty and turned back into
images, decode to the URI; a typical enrollment's whole wizard screen (QR,
key, label, prompt) fits an 80x24 terminal (compact layout); auto picks the style from locale and TERM; nothing secret
is drawn when the output is not a terminal."""

import os
import sys

import pexpect

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]
TYPICAL = ["--issuer", "myhost", "--label", "alice@myhost"]


def enroll_in_pty(tmp, name, style_args, rows=24, columns=80, env=None):
    secret = os.path.join(tmp, name)
    status, output = run_in_pty(TOOL, "--no-confirm", "--print-uri", "--secret-file", secret,
                                *TYPICAL, *style_args, rows=rows, columns=columns, env=env)
    uris = URI_RE.findall(output)
    return status, output, (uris[0] if uris else None)


def decodes_to(matrix, uri, tmp, name):
    path = os.path.join(tmp, name + ".png")
    write_png(path, matrix)
    return zbar_decode(path) == uri


def utf8_default_fits_80x24(tmp):
    status, output, uri = enroll_in_pty(tmp, "utf8", ["--qr=utf8"])
    check(status == EXIT_OK and uri is not None, "utf8 enrollment in a pty succeeds")
    lines = utf8_qr_lines(output)
    widths = {len(ANSI_ESCAPE.sub("", line)) for line in lines}
    print("     utf8 QR: %d rows x %s columns for a %d-byte URI" % (len(lines), widths, len(uri)))
    check(0 < len(lines) <= 23, "utf8 QR plus the prompt line fit 24 rows (%d)" % len(lines))
    check(len(widths) == 1 and max(widths) <= 80, "utf8 QR rows are equal and <= 80 columns")
    check(decodes_to(utf8_qr_matrix(output), uri, tmp, "utf8"), "utf8 QR decodes to the URI")
    check(all(line.startswith("\x1b[30;47m") and line.endswith("\x1b[0m") for line in lines),
          "every utf8 row sets black-on-white and resets")
    status, output, uri = enroll_in_pty(tmp, "utf8-30", ["--qr=utf8"], rows=30)
    lines = utf8_qr_lines(output)
    check(ANSI_ESCAPE.sub("", lines[0]).strip() == "" and ANSI_ESCAPE.sub("", lines[1]).strip() == ""
          and "Manual entry key" in output,
          "80x30: full layout, 4-module quiet zone (two blank cell rows)")


def wizard_screen_fits_80x24(tmp):
    """The real wizard, up to its prompt: nothing scrolls off an 80x24 screen."""
    child = spawn(TOOL, "--secret-file", os.path.join(tmp, "screen"), *TYPICAL)
    child.expect("Enter the code from the app to confirm: ")
    screen = transcript(child).replace("\r", "")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    shown = screen.split("\n")
    print("     wizard screen: %d lines up to the prompt" % len(shown))
    check(len(shown) <= 24, "wizard at 80x24: everything up to the prompt fits (%d lines)"
          % len(shown))
    check(any(line.startswith("Scan it with your app, or type the key: ") for line in shown),
          "the manual key is on screen, below the QR")
    check(shown[0].startswith("Enrolling"), "the first line is still on screen")
    check(len(utf8_qr_lines(screen)) > 0, "the QR is drawn")
    check(all(len(ANSI_ESCAPE.sub("", line)) <= 80 for line in shown), "no line wider than 80")


def utf8_compact_on_small_terminal(tmp):
    status, output, uri = enroll_in_pty(tmp, "small", ["--qr=utf8"], rows=20)
    lines = utf8_qr_lines(output)
    check(status == EXIT_OK and ANSI_ESCAPE.sub("", lines[0]).strip() == ""
          and ANSI_ESCAPE.sub("", lines[1]).strip() != "",
          "a 20-row terminal gets the 2-module quiet zone")
    check(decodes_to(utf8_qr_matrix(output), uri, tmp, "small"), "compact utf8 QR decodes")


def ansi_decodes(tmp):
    status, output, uri = enroll_in_pty(tmp, "ansi", ["--qr=ansi"], rows=60, columns=120)
    matrix = ansi_qr_matrix(output)
    check(status == EXIT_OK and len(matrix) > 20, "ansi QR drawn (%d rows)" % len(matrix))
    check(decodes_to(matrix, uri, tmp, "ansi"), "ansi QR decodes to the URI")


def ascii_decodes(tmp):
    status, output, uri = enroll_in_pty(tmp, "ascii", ["--qr=ascii"], rows=60, columns=120)
    check(status == EXIT_OK and decodes_to(ascii_qr_matrix(output), uri, tmp, "ascii"),
          "ascii QR decodes to the URI")


def auto_style(tmp):
    _, output, _ = enroll_in_pty(tmp, "auto-utf8", [], env={"TERM": "xterm-256color"})
    check(len(utf8_qr_lines(output)) > 0, "auto: UTF-8 locale + xterm at 80x24 draws utf8")
    _, output, uri = enroll_in_pty(tmp, "auto-big", [], rows=60, columns=120,
                                   env={"TERM": "xterm-256color"})
    check(len(utf8_qr_lines(output)) == 0 and len(ansi_qr_lines(output)) > 0,
          "auto: UTF-8 locale + xterm at 120x60 draws ansi (it fits)")
    check(decodes_to(ansi_qr_matrix(output), uri, tmp, "auto-big"), "auto-big QR decodes")
    _, output, _ = enroll_in_pty(tmp, "auto-c", [], rows=60, columns=120,
                                 env={"LANG": "C", "LC_ALL": "C"})
    check(len(utf8_qr_lines(output)) == 0 and len(ansi_qr_lines(output)) > 0,
          "auto: C locale draws ansi")
    _, output, uri = enroll_in_pty(tmp, "auto-linux", [], rows=60, columns=120,
                                   env={"TERM": "linux"})
    check(len(ansi_qr_lines(output)) > 0, "auto: TERM=linux draws ansi")
    check(decodes_to(ansi_qr_matrix(output), uri, tmp, "auto-linux"), "auto ansi QR decodes")


def nothing_secret_without_terminal(tmp):
    secret = os.path.join(tmp, "pipe")
    result = run(TOOL, "--no-confirm", "--secret-file", secret)
    check(result.returncode == EXIT_OK, "non-tty provisioning run exits 0")
    with open(secret) as f:
        key = [w.split("=", 1)[1] for w in f.read().split() if w.startswith("secret=")][0]
    shown = result.stdout + result.stderr
    check("\x1b[" not in shown, "no QR drawn when stdout is not a terminal")
    check(key not in shown.replace(" ", ""), "the key is not printed when not a terminal")
    result = run(TOOL, "--secret-file", os.path.join(tmp, "pipe2"), stdin="123456\n")
    check(result.returncode == EXIT_USAGE and not os.path.exists(os.path.join(tmp, "pipe2")),
          "confirming without any way to show the secret is a usage error")


def main():
    tmp = workdir()
    try:
        utf8_default_fits_80x24(tmp)
        wizard_screen_fits_80x24(tmp)
        utf8_compact_on_small_terminal(tmp)
        ansi_decodes(tmp)
        ascii_decodes(tmp)
        auto_style(tmp)
        nothing_secret_without_terminal(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
