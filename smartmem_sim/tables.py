"""Terminal tables for every command that prints one (rich: aligned columns that wrap instead of breaking
lines; plain text when the output is a pipe or file, so `grep` and tests read the rows)."""
from __future__ import annotations

from collections.abc import Sequence


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None,
                left: int | Sequence[int] = 1, caption: str | None = None) -> None:
    """Print ``rows`` under ``columns``; the first ``left`` columns (or the columns whose indices ``left``
    lists) are left-aligned (names), the rest right (numbers)."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # cells are data, not markup: a step named "[naive] x" must print as it is
    title, caption = (escape(t) if t else t for t in (title, caption))
    rows = [[escape(str(c)) for c in row] for row in rows]
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        widest = max([len(name), *(len(str(r[i])) for r in rows)])
        is_left = i < left if isinstance(left, int) else i in left
        table.add_column(escape(name), justify="left" if is_left else "right", no_wrap=True, min_width=widest)
    for row in rows:
        table.add_row(*row)
    console = Console()
    # never narrower than the table: a pipe gets whole rows (rich would otherwise shorten cells with an ellipsis)
    Console(width=max(160, console.width)).print(table)
