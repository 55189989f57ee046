"""MinHash signatures of shingle hashes, and the matrix that holds the indexed ones."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import numpy as np
from datasketch import MinHash

from services.routing.surge.rules import SurgeConfig
from services.routing.surge.text import shingle_hashes

_SCHEME = "affine32"


@cache
def _permutations(num_perm: int, seed: int) -> Any:
    return MinHash(num_perm=num_perm, seed=seed, scheme=_SCHEME).permutations


def _minhash(config: SurgeConfig, **kw: Any) -> MinHash:
    perms = _permutations(config.num_perm, config.seed)
    return MinHash(
        config.num_perm, config.seed, hashfunc=int, scheme=_SCHEME, permutations=perms, **kw
    )


def sketch(text: str, config: SurgeConfig) -> MinHash:
    """MinHash (fixed num_perm and seed) of the text's shingles."""
    mh = _minhash(config)
    hashes = shingle_hashes(text, config.shingles)
    if len(hashes):
        mh.update_batch(hashes.tolist())
    return mh


class _Signatures:
    """Signatures of the indexed tickets as rows of one matrix; a row number is the LSH key."""

    def __init__(self, num_perm: int) -> None:
        self.rows = np.zeros((1024, num_perm), dtype=np.uint32)
        self.row: dict[str, int] = {}
        self.ticket: list[str | None] = [None] * len(self.rows)
        self.free = list(range(len(self.rows) - 1, -1, -1))

    def __len__(self) -> int:
        return len(self.row)

    def __getitem__(self, ticket: str) -> np.ndarray:
        return self.rows[self.row[ticket]]

    def add(self, ticket: str, values: np.ndarray) -> int:
        if not self.free:
            top = len(self.rows)
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.ticket.extend([None] * top)
            self.free = list(range(2 * top - 1, top - 1, -1))
        row = self.row[ticket] = self.free.pop()
        self.rows[row], self.ticket[row] = values, ticket
        return row

    def remove(self, ticket: str) -> int:
        row = self.row.pop(ticket)
        self.ticket[row] = None
        self.free.append(row)
        return row

    def equal(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The share of the num_perm minima each row has in common with `values`."""
        return np.count_nonzero(self.rows[rows] == values, axis=1) / self.rows.shape[1]


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(values.astype(np.uint32).tobytes()).decode()


def _unb64(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint32).copy()
