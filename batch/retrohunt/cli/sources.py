"""`retrohunt sources`: the telemetry sources retrohunt reads and the fields they provide."""

from __future__ import annotations

import typer
from rich.table import Table

from retrohunt.cli.errors import EXIT_OK
from retrohunt.cli.render import stdout
from retrohunt.sources import AUTO, SOURCES, Source
from retrohunt.sources.taxonomy import TAXONOMY

HELP = """List the telemetry sources, how each is recognised, its event types and the Sigma
logsource categories they belong to, and the fields it maps (with the native fields they
come from, first non-empty wins). A field a rule names that a source does not map is read
where that source keeps such fields ("fallback" below: the top level, Winlogbeat's
event_data, a Windows event's EventData); a taxonomy field it does not map is null.
`--source auto` (the default of scan, hunt and bench) recognises each line.
"""

SOURCE_HELP = (
    f"Treat every event as this source ({', '.join(SOURCES)}), or {AUTO} (the default): "
    "recognise each line."
)
"""Help of the `--source` option of scan, hunt and bench."""


def source_option(value: str | None) -> str | None:
    """A `--source` value checked: a source name, or None for "auto" (recognise each line).

    Raises:
        typer.BadParameter: not a source name nor "auto".
    """
    if value is None or value == AUTO:
        return None
    if value not in SOURCES:
        raise typer.BadParameter(
            f"must be {AUTO} or one of {', '.join(SOURCES)}", param_hint="--source"
        )
    return value


def sources_command() -> int:
    """List sources (see HELP)."""
    for source in SOURCES.values():
        stdout.print(_table(source))
    return EXIT_OK


def _table(source: Source) -> Table:
    how = " / ".join(source.recognise)
    if source.recognise_pattern:
        how += f" matching {source.recognise_pattern}"
    products = {*source.products.values(), *([source.product] if source.product else [])}
    services = {*source.services.values(), *([source.service] if source.service else [])}
    title = f"{source.name}: {source.description}\nrecognised by {how}; product "
    title += "/".join(sorted(products))
    if source.service_field:
        title += f", service from {'/'.join(source.service_field)} ({len(services)} known)"
    elif services:
        title += f", service {'/'.join(sorted(services))}"
    table = Table(title=title, title_justify="left")
    table.add_column("field")
    table.add_column("native fields")
    table.add_column("meaning")
    for name, natives in source.fields.items():
        table.add_row(name, ", ".join(natives), TAXONOMY.get(name, ""))
    for scope in source.scopes:
        where = f"where {scope.native} is {' / '.join(sorted(scope.values))}"
        for name, natives in scope.fields.items():
            table.add_row(name, ", ".join(natives), where)
    fallback = ", ".join(f"{prefix}<field>" for prefix in source.fallback)
    table.add_row("(any other)", fallback, "fallback: a field the source does not map")
    event_type = "/".join(source.event_type)
    if source.event_type_prefix:
        event_type = f"{'/'.join(source.event_type_prefix)}:{event_type}"
    events = "; ".join(f"{t} → {', '.join(cats)}" for t, cats in source.event_categories().items())
    table.caption = f"event types ({event_type}): {events or 'none mapped'}"
    table.caption_justify = "left"
    return table
