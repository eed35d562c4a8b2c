"""Pages rendered for the classification tests, with the dev set's own renderer."""

from __future__ import annotations

import io
import random

from classification import devset


def page(domain: str, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = devset.finance_lines(rng) if domain == "finance" else devset.legal_lines(rng)
    image = devset._page(lines, rng, devset._fonts())
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
