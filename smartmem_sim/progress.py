"""Progress on stderr for commands that can take more than a few seconds (tqdm; shown only when stderr is a
terminal, so logs, pipes and tests stay clean)."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str, unit: str = "it", show: bool = True):
    """A tqdm bar on stderr; ``show=False`` turns it off, and it is off anyway when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                disable=None if show else True, dynamic_ncols=True)


class Stages:
    """A bar over named stages: ``with Stages("compile", ["load", "compile", ...]) as s: s.start("load")``."""

    def __init__(self, desc: str, names: Sequence[str], show: bool = True) -> None:
        self.desc, self.names = desc, list(names)
        self._bar = bar(total=len(self.names), desc=desc, unit="stage", show=show)
        self._done = 0

    def start(self, name: str) -> None:
        """Mark the stages before ``name`` done and show ``name`` as running."""
        index = self.names.index(name)
        self._bar.update(index - self._done)
        self._done = index
        self._bar.set_description_str(f"{self.desc}: {name}")

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc) -> None:
        self._bar.update(len(self.names) - self._done)
        self._bar.close()
