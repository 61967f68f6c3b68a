"""The cue coder as a dialogue stage: labels each final utterance in the context of the
session's turns before it (the coder encodes the last one with the utterance, and a model
trained with ``--client-overlap`` also reads the client's earlier turns)."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.coding import UtteranceCoder
from assistant.events import Utterance


class CoderStage:
    def __init__(self, coder: UtteranceCoder) -> None:
        self.coder = coder

    @staticmethod
    def _context(history: Sequence[Utterance]) -> list[tuple[str, str]]:
        return [(u.speaker, u.text) for u in history]

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
