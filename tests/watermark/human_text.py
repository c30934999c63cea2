"""Human-written English text for false-positive measurements, from an installed wheel.

gensim (in the ``test`` extra) ships the Lee et al. (2005) news corpus in its
test data: 299 + 50 Australian Broadcasting Corporation news articles, one per
line (``lee_background.cor``, ``lee.cor``). The folder is located without
importing gensim.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def lee_corpus() -> list[str]:
    """The Lee corpus's documents (349 news articles, written by people)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("gensim is not installed: pip install 'openward[test]'")
    data = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    docs: list[str] = []
    for name in ("lee_background.cor", "lee.cor"):
        text = (data / name).read_text(encoding="latin-1")
        docs.extend(line.strip() for line in text.splitlines() if line.strip())
    return docs
