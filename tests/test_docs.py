"""The documentation cannot rot quietly: every relative link (and its #anchor) resolves, every
file and test it names exists, and every `radbench ...` command line it quotes uses a real
command and real options of the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE = re.compile(r"`(radbench [^`]+)`")
PATHS = re.compile(r"\b((?:scripts|tests|radbench)/[\w./-]+\.(?:py|sh|yaml))(?:::(\w+))?")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def cli_tree() -> dict[tuple[str, ...], set[str] | None]:
    """Every command path of the CLI: a group maps to None, a command to its option names."""
    from radbench.cli import command

    tree: dict[tuple[str, ...], set[str] | None] = {}
    stack = [((), command())]
    while stack:
        path, cmd = stack.pop()
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            tree[path] = None
            stack += [(path + (name,), sub) for name, sub in subcommands.items()]
        else:
            tree[path] = {name for param in cmd.params for name in param.opts} | {"--help"}
    return tree


def command_lines(text: str) -> list[str]:
    """The `radbench ...` command lines of a Markdown text: lines of fenced blocks (with their
    continuation lines, comments cut) and inline code spans."""
    lines = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("radbench "):
                lines.append(re.sub(r"\s+#.*$", "", line))
    for span in INLINE.findall(FENCE.sub("", text)):
        lines.append(" ".join(span.split()))
    return lines


def problems(line: str, tree: dict[tuple[str, ...], set[str] | None]) -> list[str]:
    """What is wrong with one quoted command line: an unknown command or option."""
    words = line.split()[1:]
    path: tuple[str, ...] = ()
    while tree.get(path, set()) is None and words and path + (words[0],) in tree:
        path += (words.pop(0),)
    options = tree.get(path)
    if options is None:  # still at a group: `radbench COMMAND --help`, `radbench --version`
        if words and not words[0].isupper() and not words[0].startswith("-"):
            return [f"`{line}`: no command {' '.join(('radbench',) + path + (words[0],))!r}"]
        options = {"--help", "--version"}
    return [f"`{line}`: radbench {' '.join(path)} has no option {name}"
            for name in OPTION.findall(" ".join(words)) if name not in options]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_named_files_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (doc.parent / file).resolve() if file else doc
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    for name, function in PATHS.findall(text):
        if not (REPO / name).exists():
            broken.append(f"{name}: no such file")
        elif function and not re.search(rf"def {function}\b", (REPO / name).read_text()):
            broken.append(f"{name}::{function}: no such test")
    assert not broken, f"{doc.name}:\n" + "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_quoted_command_lines_use_real_commands_and_options(doc):
    tree = cli_tree()
    lines = command_lines(doc.read_text(encoding="utf-8"))
    found = [problem for line in lines for problem in problems(line, tree)]
    assert not found, f"{doc.name}:\n" + "\n".join(found)


def test_the_readme_quotes_commands_and_the_check_sees_a_renamed_option():
    lines = command_lines((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(lines) >= 15 and any(line.startswith("radbench run ") for line in lines)
    tree = cli_tree()
    assert "--grid" in tree[("run",)]
    renamed = dict(tree)
    renamed[("run",)] = (tree[("run",)] - {"--grid"}) | {"--grid-name"}
    found = [problem for line in lines for problem in problems(line, renamed)]
    assert found and all("has no option --grid" in problem for problem in found)
    assert problems("radbench runn thyroid", tree) == [
        "`radbench runn thyroid`: no command 'radbench runn'"]
    assert problems("radbench weights inspect radimagenet --backbone B --al", tree) == [
        "`radbench weights inspect radimagenet --backbone B --al`: radbench weights inspect "
        "has no option --al"]


def test_the_readme_stays_short_with_a_table_of_contents():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "**Contents**" in text and "](docs/" in text and "](CONTRIBUTING.md)" in text
