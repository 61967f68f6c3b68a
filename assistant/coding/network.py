"""The multi-task head on top of the encoder (torch is imported by the caller's first use)."""

from __future__ import annotations

import torch
from torch import nn

from assistant.coding.labels import HEADS


class CoderHead(nn.Module):
    """Shared hidden layer over [utterance embedding ; lexical features], one linear per head."""

    lex_mean: torch.Tensor
    lex_std: torch.Tensor

    def __init__(self, n_embedding: int, n_lexical: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.n_embedding = n_embedding
        self.n_lexical = n_lexical
        self.hidden = hidden
        self.register_buffer("lex_mean", torch.zeros(n_lexical))
        self.register_buffer("lex_std", torch.ones(n_lexical))
        self.trunk = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_embedding + n_lexical, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.heads = nn.ModuleDict(
            {name: nn.Linear(hidden, len(classes)) for name, classes in HEADS.items()}
        )

    def forward(self, embedding: torch.Tensor, lexical: torch.Tensor) -> dict[str, torch.Tensor]:
        lex = (lexical - self.lex_mean) / self.lex_std
        h = self.trunk(torch.cat([embedding, lex], dim=1))
        return {name: head(h) for name, head in self.heads.items()}
