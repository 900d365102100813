"""Terminal tables for every command that prints one (rich: aligned columns that wrap instead of breaking
lines; plain text when the output is a pipe or file, so `grep` and tests read the rows)."""
from __future__ import annotations

from collections.abc import Sequence


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None,
                left: int = 1, caption: str | None = None) -> None:
    """Print ``rows`` under ``columns``; the first ``left`` columns are left-aligned (names), the rest right
    (numbers)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(columns):
        widest = max([len(name), *(len(str(r[i])) for r in rows)])
        table.add_column(name, justify="left" if i < left else "right", no_wrap=True, min_width=widest)
    for row in rows:
        table.add_row(*row)
    console = Console()
    # never narrower than the table: a pipe gets whole rows (rich would otherwise shorten cells with an ellipsis)
    Console(width=max(160, console.width)).print(table)
