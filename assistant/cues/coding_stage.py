"""The cue coder as a dialogue stage: labels each final utterance in the context of the
turns before it."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.coding import UtteranceCoder
from assistant.events import Utterance

CONTEXT_TURNS = 3


class CoderStage:
    def __init__(self, coder: UtteranceCoder, context_turns: int = CONTEXT_TURNS) -> None:
        self.coder = coder
        self.context_turns = context_turns

    def _context(self, history: Sequence[Utterance]) -> list[tuple[str, str]]:
        recent = history[-self.context_turns :] if self.context_turns else []
        return [(u.speaker, u.text) for u in recent]

    def annotate(self, utterance: Utterance, history: Sequence[Utterance]) -> None:
        utterance.labels = self.coder.code(
            utterance.speaker, utterance.text, self._context(history)
        )

    def annotate_all(self, utterances: Sequence[Utterance]) -> None:
        todo = [(i, u) for i, u in enumerate(utterances) if u.labels is None]
        if not todo:
            return
        items = [(u.speaker, u.text, self._context(utterances[:i])) for i, u in todo]
        for (_, u), labels in zip(todo, self.coder.code_batch(items), strict=True):
            u.labels = labels
