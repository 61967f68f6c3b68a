"""Audit details carry facts, never session content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTENT_KEYS = frozenset(
    {"text", "body", "label", "labels", "message", "payload", "transcript", "consent_text"}
)


def check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``detail``; raises ValueError if a key anywhere in it names content."""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if str(k).lower() in CONTENT_KEYS:
                    raise ValueError(f"audit detail must not carry content ({where}{k})")
                walk(v, f"{where}{k}.")
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, where)

    walk(detail, "")
    return dict(detail)
