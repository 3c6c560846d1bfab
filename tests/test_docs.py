"""The documentation matches the code, and the README stays a short guide.

* docs/FLAGS.md has a section ``## `<command>` `` for every command (every script at
  the root, in align/ and in data/ with a command line), and the flag column of its
  tables lists exactly the options of that command's argparse parser: a flag the
  parser has and the page lacks is missing documentation, a flag the page lists and
  the parser lacks is stale documentation.
* README.md has at most 300 lines, and still holds the install and test commands
  that .ci/run runs (CI installs "exactly as the README says").
* Every relative link and #anchor in README.md, docs/, align/ and data/ resolves.

Standard library and pytest only. The parsers are built without running anything
(the drivers import TensorFlow lazily, inside functions), so this takes a few seconds.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FLAGS_DOC = ROOT / "docs" / "FLAGS.md"
CI_SCRIPT = ROOT / ".ci" / "run"
MAX_README_LINES = 300

# Every command, as docs/FLAGS.md's section headings name it (its path from the root).
COMMANDS = (
    "train_dcgan.py",
    "complete.py",
    "serve.py",
    "evaluate.py",
    "export_model.py",
    "train_encoder.py",
    "align/align-dlib.py",
    "data/prepare.py",
    "data/split.py",
)
HELP_OPTIONS = {"-h", "--help"}
# A flag as written in the flag column: `--nIter`, `-j`, `--no-blend`.
FLAG = re.compile(r"`(--?[A-Za-z][\w-]*)`")
FENCE = re.compile(r"^\s*(```|~~~)")


class _ParserCaught(BaseException):
    """Raised instead of parsing, to hand back the parser a script's main() built.

    A BaseException, so that no ``except Exception`` (or ``except SystemExit``) in a
    driver swallows it."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _load(command: str):
    """The command's module, imported without running its ``__main__`` block."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    path = ROOT / command
    if path.parent == ROOT and path.stem.isidentifier():
        return importlib.import_module(path.stem)
    name = "_docs_" + re.sub(r"\W", "_", command[:-3])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def parser_options(command: str) -> frozenset[str]:
    """Every option string (``--nIter``, ``-j``, ``--no-blend``) of the command's parser.

    Uses the module's ``build_parser()``; a script without one (data/split.py,
    align/align-dlib.py) has its ``main()`` called with the parser's parsing replaced
    by a trap that hands the parser back before anything runs."""
    module = _load(command)
    if hasattr(module, "build_parser"):
        parser = module.build_parser()
    else:
        original = argparse.ArgumentParser.parse_known_args

        def trap(self, *args, **kwargs):
            raise _ParserCaught(self)

        argparse.ArgumentParser.parse_known_args = trap
        try:
            module.main([])
        except _ParserCaught as caught:
            parser = caught.parser
        else:
            raise AssertionError(f"{command}: main() returned without parsing any arguments")
        finally:
            argparse.ArgumentParser.parse_known_args = original
    options = {option for action in parser._actions for option in action.option_strings}
    return frozenset(options - HELP_OPTIONS)


def flag_sections(text: str) -> dict[str, list[str]]:
    """docs/FLAGS.md's command sections: ``## `<command>` ...`` -> the flags in the first
    cell of each table row under it (until the next ``## `` heading)."""
    sections: dict[str, list[str]] = {}
    current = None
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("## "):
            match = re.match(r"## `([^`]+)`", line)
            current = match.group(1) if match else None
            if current is not None:
                assert current not in sections, f"docs/FLAGS.md has two sections for {current}"
                sections[current] = []
            continue
        if current is not None and line.startswith("|"):
            cells = line.split("|")
            if len(cells) > 2:
                sections[current].extend(FLAG.findall(cells[1]))
    return sections


@functools.lru_cache(maxsize=None)
def documented() -> dict[str, list[str]]:
    return flag_sections(FLAGS_DOC.read_text(encoding="utf-8"))


def test_readme_is_a_short_guide():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines, more than {MAX_README_LINES}: move details to docs/ "
        "(MODEL_CARD, RESULTS, EXPERIMENTS, DESIGN, FLAGS) and link them")


def test_every_script_with_a_command_line_is_documented():
    scripts = set()
    for folder in (ROOT, ROOT / "align", ROOT / "data"):
        for path in sorted(folder.glob("*.py")):
            if path.is_symlink():                 # train-dcgan.py -> train_dcgan.py
                continue
            if re.search(r"""__name__\s*==\s*["']__main__["']""", path.read_text(encoding="utf-8")):
                scripts.add(path.relative_to(ROOT).as_posix())
    unlisted = sorted(scripts - set(COMMANDS))
    assert not unlisted, (
        f"{', '.join(unlisted)}: a command line that tests/test_docs.py's COMMANDS does not list; "
        "add it there and give it a section in docs/FLAGS.md")
    missing = [command for command in COMMANDS if command not in documented()]
    assert not missing, (
        "docs/FLAGS.md has no section for " + ", ".join(missing)
        + " (a heading '## `<command>`' followed by a table whose first column lists its flags)")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_is_documented(command):
    listed = set(documented().get(command, []))
    missing = sorted(parser_options(command) - listed)
    assert not missing, (
        f"{command}: {', '.join(missing)} not documented in docs/FLAGS.md, section "
        f"'## `{command}`' (add a table row: flag, default, one line of meaning)")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_flag_is_documented_that_the_command_lacks(command):
    stale = sorted(set(documented().get(command, [])) - parser_options(command))
    assert not stale, (
        f"{command}: docs/FLAGS.md, section '## `{command}`', documents {', '.join(stale)}, "
        f"which {command}'s parser does not have (stale documentation, or a flag not added yet)")


def test_the_readme_gives_the_commands_ci_runs():
    """.ci/run marks the lines that are the README's commands with '# README: ...'."""
    readme = " ".join(README.read_text(encoding="utf-8").split())
    marked = [line.split("#", 1)[0].split() for line in CI_SCRIPT.read_text().splitlines()
              if re.search(r"#\s*README:", line)]
    assert len(marked) >= 2, ".ci/run no longer marks its install and test commands '# README:'"
    for words in marked:
        command = " ".join(word for word in words if word != "--quiet")   # CI's own quietness
        assert command in readme, (
            f".ci/run runs '{command}' as the README's command, but README.md does not give it")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@functools.lru_cache(maxsize=None)
def _anchors(path: Path) -> frozenset[str]:
    anchors, counts = set(), {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"#{1,6} (.*)", line)
        if match:
            slug = _slug(match.group(1))
            count = counts.get(slug, 0)          # a repeated heading gets -1, -2, ...
            counts[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def test_links_between_the_documents_resolve():
    pages = [README, ROOT / "align" / "README.md", ROOT / "data" / "README.md",
             *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue                                    # http:, https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            if not linked.exists():
                broken.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{where}: no heading with that anchor in {linked.name}")
    assert not broken, "broken links:\n" + "\n".join(broken)
