#!/usr/bin/env python3
"""Each parser's options against its man page, so an option without docs (or
docs for an option that is gone) fails CI.

  test_man_pages.py pam PROBE MANPAGE SOURCE_DIR
      PROBE is tests/docs/pam_args_probe (linked with twostep_pam_args, the
      module's own parser). The candidate names are every identifier-like
      string literal in SOURCE_DIR (pam_module/); the parser says which of
      them it knows, and in which form (NAME or NAME=VALUE). Each must be the
      tag of an entry (OPTIONS, or a section of its own such as PUSH
      APPROVAL) and appear in SYNOPSIS, in that form; each argument the man
      page documents must be known to the parser, in that form.
  test_man_pages.py cli BINARY MANPAGE [--exit-codes HEADER]
      The long options in BINARY --help (and, for each subcommand CLI11
      lists, BINARY SUB... --help) against the man page: each option must be
      an entry (a .TP tag) of an options section, or for a subcommand's own
      options, be named in that subcommand's entry; each documented option
      must exist. Subcommands must have an entry of their own. With
      --exit-codes, the numbers in HEADER's enum (NAME = N) must be exactly
      those listed in EXIT STATUS.

  test_man_pages.py conf MANPAGE UNKNOWN_REGEX SOURCE... -- PROBE...
      A configuration file's settings: the candidates are the identifier
      literals in SOURCE...; the program is asked about each (PROBE, with
      {config} replaced by a file holding `KEY = 1` and {dir} by a temporary
      directory; a key is unknown when the output matches UNKNOWN_REGEX).
      Each known key must be named in a .TP tag; each named one must be known.

Every man page must also have the sections an admin looks for (NAME,
SYNOPSIS, DESCRIPTION, options, exit status or return values, FILES or
ENVIRONMENT, EXAMPLES, SEE ALSO).
Exit 0: all match; 1: mismatches, each printed.
"""
import re
import subprocess
import sys
from pathlib import Path

failures = []


def fail(message):
    failures.append(message)


# ---- reading a man page --------------------------------------------------

ESCAPES = [(r"\(dq", '"'), (r"\(bu", "*"), (r"\(mu", "x"), (r"\-", "-"),
           (r"\&", ""), (r"\e", "\\"), (r"\ ", " "), (r"\~", " ")]


def plain(text):
    """Text of a roff line without font changes and with escapes resolved."""
    text = re.sub(r"\\f[BIRP]", "", text)
    text = re.sub(r"\\f\(..", "", text)
    for escape, replacement in ESCAPES:
        text = text.replace(escape, replacement)
    return text


def macro_text(line):
    """What a line shows: a font macro's arguments joined (.B joins with
    spaces, the alternating ones without), plain text as is."""
    if not line.startswith("."):
        return plain(line)
    match = re.match(r"\.([A-Z]+)\s*(.*)", line)
    if not match:
        return ""
    name, rest = match.groups()
    args = [a[1:-1] if a.startswith('"') else a
            for a in re.findall(r'"[^"]*"|\S+', rest)]
    if name in ("B", "I", "SM", "SB"):
        return plain(" ".join(args))
    if name in ("BI", "BR", "IB", "IR", "RB", "RI"):
        return plain("".join(args))
    return ""


class ManPage:
    def __init__(self, path):
        self.path = path
        self.sections = {}  # name -> list of lines
        current = None
        for line in Path(path).read_text().splitlines():
            if line.startswith('.\\"'):
                continue
            match = re.match(r'\.SH\s+"?([^"]*)"?', line)
            if match:
                current = match.group(1).strip().upper()
                self.sections[current] = []
            elif current is not None:
                self.sections[current].append(line)

    def entries(self, section):
        """(tag, body) of each .TP entry of a section, as plain text."""
        lines = self.sections.get(section, [])
        result = []
        i = 0
        while i < len(lines):
            if lines[i].startswith(".TP") and i + 1 < len(lines):
                tag = macro_text(lines[i + 1])
                body = []
                i += 2
                while i < len(lines) and not lines[i].startswith(".TP"):
                    body.append(macro_text(lines[i]))
                    i += 1
                result.append((tag, " ".join(body)))
            else:
                i += 1
        return result

    def text(self, section):
        return " ".join(macro_text(line) for line in self.sections.get(section, []))


def check_sections(page, options_sections, exit_sections, extra_any=()):
    names = set(page.sections)
    for required in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        if required not in names:
            fail(f"{page.path}: no {required} section")
    if not names & {"EXAMPLES", "EXAMPLE"}:
        fail(f"{page.path}: no EXAMPLES section")
    if not names & set(options_sections):
        fail(f"{page.path}: no options section ({' or '.join(options_sections)})")
    if not names & set(exit_sections):
        fail(f"{page.path}: no {' or '.join(exit_sections)} section")
    if not names & ({"FILES", "ENVIRONMENT"} | set(extra_any)):
        fail(f"{page.path}: no FILES section")


# ---- pam_twostep ---------------------------------------------------------

PAM_WORD = re.compile(r"^([a-z][a-z0-9_-]*)(=?)")


def pam_documented(text):
    """(name, form) for each argument word in a tag or synopsis text."""
    found = set()
    text = re.sub(r"\{[^{}]*\}", "VALUES", text)  # failmode={secure|safe|totp}
    for token in re.split(r"[\s|,\[\]]+", text):
        match = PAM_WORD.match(token)
        if not match:
            continue
        name, eq = match.groups()
        if not eq and token != name:
            continue  # pam_twostep.so, a word with punctuation
        found.add((name, "value" if eq else "flag"))
    return found


def check_pam(probe, man_path, source_dir):
    page = ManPage(man_path)
    check_sections(page, ["OPTIONS"], ["RETURN VALUES"])
    literals = set()
    for source in sorted(Path(source_dir).glob("*.[ch]pp")):
        literals |= set(re.findall(r'"([a-z][a-z0-9_-]*)"', source.read_text()))
    if len(literals) < 10:
        fail(f"only {len(literals)} candidate names in {source_dir}: wrong directory?")
    output = subprocess.run([probe, *sorted(literals)], check=True,
                            capture_output=True, text=True).stdout
    known = {tuple(line.split()) for line in output.splitlines()}
    if len(known) < 10:
        fail(f"the parser knows only {len(known)} of the candidate names: probe broken?")

    # Entries of OPTIONS and of any other section (PUSH APPROVAL, ...): tags
    # there are argument words, return values in capitals or paths, and only
    # the argument words match.
    documented = set()
    for section in page.sections:
        for tag, _ in page.entries(section):
            documented |= pam_documented(tag)
    synopsis = pam_documented(page.text("SYNOPSIS"))

    for name, form in sorted(known):
        shown = name + ("=VALUE" if form == "value" else "")
        if (name, form) not in documented:
            fail(f"{man_path}: module argument {shown} has no entry (.TP) of its own")
        if (name, form) not in synopsis:
            fail(f"{man_path}: module argument {shown} is not in the SYNOPSIS")
    for name, form in sorted(documented | synopsis):
        if (name, form) in known:
            continue
        # The parser is the judge: ask it about names the source scan missed.
        answer = subprocess.run([probe, name], check=True, capture_output=True,
                                text=True).stdout.split()
        shown = name + ("=VALUE" if form == "value" else "")
        if form not in answer[1::2]:
            fail(f"{man_path}: documents {shown}, which the module's parser refuses")
    print(f"pam_twostep: {len(known)} argument forms known to the parser, "
          f"{len(documented)} documented in entries")


# ---- CLI11 programs ----------------------------------------------------------

def help_text(command):
    result = subprocess.run([*command, "--help"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=30)
    if result.returncode != 0:
        fail(f"{' '.join(command)} --help exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def parse_help(text):
    """Long options and subcommands of one CLI11 --help page."""
    options, subcommands = set(), []
    section = None
    for line in text.splitlines():
        header = re.match(r"^([A-Z][A-Za-z ]*):\s*$", line)
        if header:
            section = header.group(1).lower()
            continue
        if not line.startswith(" "):
            section = None if line.strip() else section
            continue
        if section and "option" in section:
            head = line.strip().split("  ")[0]
            options |= set(re.findall(r"--[a-z0-9][a-z0-9-]*", head))
        elif section and "subcommand" in section:
            word = line.split()
            if word and re.fullmatch(r"[a-z][a-z0-9-]*", word[0]):
                subcommands.append(word[0])
    options.discard("--help")
    return options, subcommands


def cli_tree(binary):
    """{subcommand path (tuple): its own long options}."""
    tree = {}
    pending = [()]
    while pending:
        path = pending.pop()
        options, subcommands = parse_help(help_text([binary, *path]))
        tree[path] = options
        pending.extend(path + (sub,) for sub in subcommands)
    return tree


LONG = re.compile(r"--[a-z0-9][a-z0-9-]*")


def check_cli(binary, man_path, exit_header):
    page = ManPage(man_path)
    option_sections = [s for s in page.sections if "OPTIONS" in s or s == "MODES"]
    check_sections(page, option_sections or ["OPTIONS"], ["EXIT STATUS"])
    tree = cli_tree(binary)
    tagged = set()
    for section in option_sections:
        for tag, _ in page.entries(section):
            tagged |= set(LONG.findall(tag))
    tagged.discard("--help")  # CLI11's, on every command; documenting it is optional
    commands = page.entries("COMMANDS")
    if len(tree) > 1 and not commands:
        fail(f"{man_path}: {binary} has subcommands but the page has no COMMANDS section")

    documented = set(tagged)
    for path, options in sorted(tree.items()):
        if not path:
            for option in sorted(options - tagged):
                fail(f"{man_path}: option {option} has no entry in "
                     f"{' or '.join(option_sections) or 'OPTIONS'}")
            continue
        words = " ".join(path)
        # The entries whose tag names this command: "host add NAME", "host list, ...".
        mine = [(tag, body) for tag, body in commands
                if re.search(r"(^|[\s,])" + re.escape(words) + r"($|[\s,\[])", tag)]
        has_children = any(len(p) > len(path) and p[:len(path)] == path for p in tree)
        if not mine and not has_children:
            fail(f"{man_path}: subcommand '{words}' has no entry in COMMANDS")
            continue
        named = set()
        for tag, body in mine:
            named |= set(LONG.findall(tag + " " + body))
        named.discard("--help")
        documented |= named
        for option in sorted(options - named - tagged):
            fail(f"{man_path}: option {option} of '{words}' is not named in its COMMANDS entry")
    every = set().union(*tree.values())
    for option in sorted(documented - every):
        fail(f"{man_path}: documents {option}, which {Path(binary).name} does not have")

    if exit_header:
        numbers = {int(n) for n in re.findall(r"=\s*(\d+)\s*,",
                                              Path(exit_header).read_text())}
        listed = set()
        for tag, _ in page.entries("EXIT STATUS"):
            listed |= {int(n) for n in re.findall(r"\b(\d+)\b", tag)}
        if not numbers:
            fail(f"{exit_header}: no exit codes found")
        for number in sorted(numbers - listed):
            fail(f"{man_path}: exit status {number} ({exit_header}) is not in EXIT STATUS")
        for number in sorted(listed - numbers):
            fail(f"{man_path}: EXIT STATUS lists {number}, which {exit_header} does not define")
    print(f"{Path(binary).name}: {len(tree)} command(s), "
          f"{len(every)} long options, {len(documented)} documented")


# ---- configuration files -----------------------------------------------------

def conf_documented(page):
    """Keys named in the .TP tags of every section: the words before any
    parenthesis ("tls_cert, tls_key (default: none)")."""
    keys = set()
    for section in page.sections:
        for tag, _ in page.entries(section):
            while re.search(r"\([^()]*\)", tag):
                tag = re.sub(r"\([^()]*\)", "", tag)
            keys |= {w for w in re.split(r"[\s,]+", tag) if re.fullmatch(r"[a-z][a-z0-9_]*", w)}
    return keys


def check_conf(man_path, sources, unknown_pattern, probe):
    """probe: a command with {config}, run in a temporary directory with a
    one-line file `KEY = 1`; the key is unknown when the output matches
    unknown_pattern."""
    import tempfile
    page = ManPage(man_path)
    check_sections(page, list(page.sections), ["DESCRIPTION"])
    literals = set()
    for source in sources:
        literals |= set(re.findall(r'"([a-z][a-z0-9_]*)"', Path(source).read_text()))

    def parser_knows(key):
        with tempfile.TemporaryDirectory(prefix="twostep-man-") as tmp:
            config = Path(tmp) / "probe.conf"
            config.write_text(f"{key} = 1\n")
            command = [part.replace("{config}", str(config)).replace("{dir}", tmp)
                       for part in probe]
            result = subprocess.run(command, cwd=tmp, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=30)
            return not re.search(unknown_pattern, result.stdout + result.stderr)

    if parser_knows("no_such_key_twostep_probe"):
        fail(f"the probe {probe} does not report unknown keys as /{unknown_pattern}/")
        return
    known = {key for key in literals if parser_knows(key)}
    documented = conf_documented(page)
    for key in sorted(known - documented):
        fail(f"{man_path}: setting {key} has no entry")
    for key in sorted(documented - known):
        if not parser_knows(key):
            fail(f"{man_path}: documents {key}, which the parser refuses")
    if len(known) < 3:
        fail(f"the parser knows only {len(known)} of {len(literals)} candidate keys: probe broken?")
    print(f"{Path(man_path).name}: {len(known)} settings known to the parser, "
          f"{len(documented)} documented")


def main(argv):
    if len(argv) >= 5 and argv[1] == "pam":
        check_pam(argv[2], argv[3], argv[4])
    elif len(argv) in (4, 6) and argv[1] == "cli":
        header = argv[5] if len(argv) == 6 and argv[4] == "--exit-codes" else None
        if len(argv) == 6 and header is None:
            sys.exit(__doc__)
        check_cli(argv[2], argv[3], header)
    elif len(argv) >= 7 and argv[1] == "conf" and "--" in argv:
        split = argv.index("--")
        man_path, unknown_pattern, *sources = argv[2:split]
        check_conf(man_path, sources, unknown_pattern, argv[split + 1:])
    else:
        sys.exit(__doc__)
    for message in failures:
        print("FAIL:", message)
    if failures:
        print(f"{len(failures)} mismatch(es) between the code and its man page")
        return 1
    print("man page matches the parser")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
