"""The commands that README.md and docs/*.md show, read from the documents themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Fenced blocks in these languages hold commands; others hold output, tables or diagrams.
COMMAND_BLOCKS = {"sh", "bash", "shell", "console", "cron"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
# Inline code that starts like one of these is a command, not a file name or a figure.
INLINE_COMMAND = re.compile(r"^(make |python |python3 |\.venv/bin/python |manage\.py |bench/\S+\.py \S)")


@dataclass(frozen=True)
class Command:
    text: str  # as shown, continuation lines joined, comments dropped
    where: str  # document:line


def _logical_lines(block: str) -> list[tuple[int, str]]:
    """Lines of a block with continuations ("\\" at the end, or an indented next line) joined."""
    joined: list[tuple[int, str]] = []
    pending = False
    for number, line in enumerate(block.splitlines()):
        continues = pending or (line[:1].isspace() and joined and line.strip())
        if continues and joined:
            start, text = joined[-1]
            joined[-1] = (start, text + " " + line.strip())
        else:
            joined.append((number, line.strip()))
        pending = joined[-1][1].endswith("\\")
        if pending:
            start, text = joined[-1]
            joined[-1] = (start, text[:-1].rstrip())
    return joined


def _without_comment(line: str) -> str:
    """The line less a trailing "  # ..." comment (a # inside quotes or $(...) stays)."""
    match = re.search(r"\s{2,}#.*$|\s#\s.*$", line)
    if match and line[: match.start()].count("'") % 2 == 0 and line[: match.start()].count('"') % 2 == 0:
        return line[: match.start()].rstrip()
    return line


def documented_commands() -> list[Command]:
    commands: list[Command] = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        name = document.relative_to(ROOT).as_posix()
        for block in FENCE.finditer(text):
            if block.group(1) not in COMMAND_BLOCKS:
                continue
            first_line = text[: block.start(2)].count("\n") + 1
            for offset, line in _logical_lines(block.group(2)):
                line = _without_comment(line)
                if line and not line.startswith("#"):
                    commands.append(Command(line, f"{name}:{first_line + offset}"))
        prose = FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), text)
        for number, line in enumerate(prose.splitlines(), start=1):
            for code in INLINE.findall(line):
                if INLINE_COMMAND.match(code):
                    commands.append(Command(code.strip(), f"{name}:{number}"))
    return commands
