#!/usr/bin/python3
"""--png and --svg hold exactly the URI --print-uri prints (decoded by zbarimg),
are mode 0600, come with a warning, and never replace a file without --force."""

import os
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]


def png_matches_print_uri(tmp):
    secret, png, svg = (os.path.join(tmp, n) for n in ("secret", "qr.png", "qr.svg"))
    result = run(TOOL, "--no-confirm", "--secret-file", secret, "--png", png, "--svg", svg,
                 "--print-uri", "--issuer", "myhost", "--label", "alice@myhost")
    check(result.returncode == EXIT_OK, "provisioning run exits 0 (%d)" % result.returncode)
    uri = result.stdout.strip()
    check(uri.startswith("otpauth://totp/myhost:alice%40myhost?secret="),
          "stdout is exactly the URI")
    check(uri.count("\n") == 0, "nothing but the URI on stdout")
    decoded = zbar_decode(png)
    check(decoded == uri, "the PNG decodes to the printed URI")
    check(mode_of(png) == 0o600 and mode_of(svg) == 0o600 and mode_of(secret) == 0o600,
          "PNG, SVG and secret file are mode 0600")
    check("qr.png contains the secret" in result.stderr and "qr.svg contains the secret" in
          result.stderr, "stderr warns that the images contain the secret")
    with open(svg) as f:
        svg_text = f.read()
    check(svg_text.startswith("<?xml") and "<svg" in svg_text, "SVG is an SVG document")
    rendered = os.path.join(tmp, "from-svg.png")
    write_png(rendered, svg_matrix(svg_text), border=0)
    check(zbar_decode(rendered) == uri, "the SVG's modules decode to the printed URI")
    with open(secret) as f:
        check(secret_of(uri) in f.read(), "the secret file holds the secret of the URI")
    leftovers = sorted(set(os.listdir(tmp)) - {"secret", "qr.png", "qr.svg", "from-svg.png"})
    check(leftovers == [], "no temporary files left: %r" % leftovers)


def existing_image_not_replaced(tmp):
    secret, png = os.path.join(tmp, "secret2"), os.path.join(tmp, "taken.png")
    with open(png, "w") as f:
        f.write("precious")
    result = run(TOOL, "--no-confirm", "--secret-file", secret, "--png", png)
    check(result.returncode == EXIT_REFUSED, "existing --png target refused with exit 2 (%d)"
          % result.returncode)
    with open(png) as f:
        check(f.read() == "precious", "the existing file is untouched")
    check(not os.path.exists(secret), "no secret file written when the image is refused")
    result = run(TOOL, "--no-confirm", "--secret-file", secret, "--png", png, "--force",
                 "--print-uri")
    check(result.returncode == EXIT_OK, "--force replaces the image")
    check(zbar_decode(png) == result.stdout.strip(), "the replaced image holds the new URI")


def main():
    tmp = workdir()
    try:
        png_matches_print_uri(tmp)
        existing_image_not_replaced(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
