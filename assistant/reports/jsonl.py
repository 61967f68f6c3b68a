"""JSON lines: the stored events exactly as `attune analyze` writes them, one per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def to_jsonl(events: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(e), ensure_ascii=False) + "\n" for e in events)
