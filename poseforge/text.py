"""Small text helpers for what poseforge prints (standard library only)."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 image`, `2 images`; `plural_form` where adding an s is wrong (`1 person`, `3 people`)."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"
