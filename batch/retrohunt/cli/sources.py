"""`retrohunt sources`: the telemetry sources retrohunt reads and the fields they provide."""

from __future__ import annotations

from rich.table import Table

from retrohunt.cli.errors import EXIT_OK
from retrohunt.cli.render import stdout
from retrohunt.sources import SOURCES
from retrohunt.sources.taxonomy import TAXONOMY

HELP = """List the telemetry sources, how each is recognised, its event types and the Sigma
taxonomy fields it provides (with the native fields they come from, first non-empty wins).
Fields a rule names that are not in the taxonomy are read from the event under that name.
"""


def sources_command() -> int:
    """List sources (see HELP)."""
    for source in SOURCES.values():
        how = " / ".join(source.recognise)
        if source.recognise_pattern:
            how += f" matching {source.recognise_pattern}"
        products = {*source.products.values(), *([source.product] if source.product else [])}
        table = Table(
            title=f"{source.name}: {source.description}\nrecognised by {how}; "
            f"product {'/'.join(sorted(products))}"
            + (f", service {source.service}" if source.service else ""),
            title_justify="left",
        )
        table.add_column("taxonomy field")
        table.add_column("native fields")
        table.add_column("meaning")
        for name, natives in source.fields.items():
            table.add_row(name, ", ".join(natives), TAXONOMY.get(name, ""))
        events = ", ".join(f"{k} → {v}" for k, v in source.categories.items())
        table.caption = f"event types ({'/'.join(source.event_type)}): {events}"
        table.caption_justify = "left"
        stdout.print(table)
    return EXIT_OK
