"""Small text helpers for what poseforge prints (standard library only)."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 image`, `2 images`; `plural_form` where adding an s is wrong (`1 person`, `3 people`)."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def first_few(names: list[str], shown: int = 3) -> str:
    """`a, b, c, ...`: the first `shown` names, and that there are more."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def printable(text: object) -> str:
    """`text` as one printable line: control characters (a newline or an escape sequence in a file
    name, say), bidirectional overrides and undecodable bytes shown as escapes, never acted on by
    the terminal. Every line poseforge prints about a name goes through it."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in str(text))  # fmt: skip
