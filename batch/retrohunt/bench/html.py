"""The bench report as one self-contained HTML page: tables and inline SVG plots, no script
and nothing fetched, so it opens in a browser with no network access."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from retrohunt.bench.compare import Comparison
from retrohunt.bench.measure import BenchReport

_PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568")
_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1a202c; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #cbd5e0; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e2e8f0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5em 0; } figcaption { color: #4a5568; }
.note { color: #4a5568; font-size: 0.9em; }
"""


def render_html(report: BenchReport, comparison: Comparison | None = None) -> str:
    """The report (and, for `--compare`, rule set B against A) as an HTML document."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>retrohunt bench</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>retrohunt bench</h1>",
        _summary(report),
        "<h2>Throughput per engine</h2>",
        _figure(
            bar_chart(
                [run.name for run in report.runs],
                [[run.mb_per_second or 0.0 for run in report.runs]],
                ["throughput"],
                unit="MB/s",
            ),
            "Decompressed MB per second over the corpora (median of the runs; the `re` "
            "baseline is extrapolated from a sample).",
        ),
        _runs_table(report),
        "<h2>Hits and false positives per rule</h2>",
        _figure(
            bar_chart(
                [rule.name for rule in report.rules],
                [
                    [float(rule.hits) for rule in report.rules],
                    [float(rule.false_positives or 0) for rule in report.rules],
                ],
                ["hits", "false positives"],
                unit="alerts",
                horizontal=True,
            ),
            "Alerts per rule, and those the labels do not expect."
            if report.labelled
            else "Alerts per rule (no labels: false positives unknown).",
        ),
        _rules_table(report),
        _unseen(report),
        "<h2>Cost versus pattern count</h2>",
        _figure(
            scatter_chart(
                [
                    (float(r.patterns), r.seconds)
                    for r in [*report.rules, report.total]
                    if r.seconds is not None
                ],
                [r.name for r in [*report.rules, report.total] if r.seconds is not None],
                x_label="Hyperscan patterns",
                y_label="seconds over the corpora",
            ),
            "Each rule scanned alone, and the whole rule set.",
        ),
        _compile_table(report),
    ]
    if comparison is not None:
        parts.append(_comparison(comparison))
    parts.append("</body></html>")
    return "\n".join(parts)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    names: Sequence[str],
    *,
    unit: str,
    horizontal: bool = False,
) -> str:
    """Grouped bars as an SVG element: one group per label, one bar per series."""
    count = max(len(labels), 1)
    top = max((v for values in series for v in values), default=0.0) or 1.0
    if horizontal:
        row, left, width = 18 * len(series) + 10, 260, 820
        height = row * count + 60
        body = []
        for i, label in enumerate(labels):
            top_y = 30.0 + i * row
            body.append(_text(left - 8, top_y + row / 2, label, anchor="end"))
            for j, values in enumerate(series):
                length = (width - left - 60) * values[i] / top
                colour = _PALETTE[j % len(_PALETTE)]
                body.append(_rect(left, top_y + j * 18, length, 16, colour))
                body.append(_text(left + length + 4, top_y + j * 18 + 12, _number(values[i])))
    else:
        column, bottom, width = 90 * len(series) + 30, 40, max(90 * len(series) * count + 120, 400)
        height = 300
        body = []
        for i, label in enumerate(labels):
            x = 60 + i * column
            body.append(_text(x + column / 2 - 15, height - bottom + 18, label, anchor="middle"))
            for j, values in enumerate(series):
                length = (height - bottom - 40) * values[i] / top
                y = height - bottom - length
                body.append(_rect(x + j * 90, y, 80, length, _PALETTE[j % len(_PALETTE)]))
                body.append(_text(x + j * 90 + 40, y - 4, _number(values[i]), anchor="middle"))
    legend = [
        _rect(10 + 130 * j, 6, 12, 12, _PALETTE[j % len(_PALETTE)])
        + _text(26 + 130 * j, 16, f"{name} ({unit})")
        for j, name in enumerate(names)
    ]
    return _svg(width, height, [*legend, *body])


def scatter_chart(
    points: Sequence[tuple[float, float | None]],
    labels: Sequence[str],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """Labelled points on log-scaled x (pattern counts span decades) as an SVG element."""
    width, height, margin = 820, 360, 60
    kept = [(x, y, label) for (x, y), label in zip(points, labels, strict=True) if y is not None]
    if not kept:
        return _svg(width, 80, [_text(20, 40, "not measured (bench --per-rule to measure)")])
    xs = [math.log10(max(x, 1.0)) for x, _, _ in kept]
    ys = [y for _, y, _ in kept]
    x_span = (max(xs) - min(xs)) or 1.0
    y_top = max(ys) * 1.1 or 1.0
    body = [
        f"<line x1='{margin}' y1='{height - margin}' x2='{width - 20}' y2='{height - margin}' "
        "stroke='#4a5568'/>",
        f"<line x1='{margin}' y1='20' x2='{margin}' y2='{height - margin}' stroke='#4a5568'/>",
        _text(width / 2, height - 15, f"{x_label} (log scale)", anchor="middle"),
        _text(15, 14, y_label),
    ]
    for lx, (x, y, label) in zip(xs, kept, strict=True):
        px = margin + 20 + (width - margin - 80) * (lx - min(xs)) / x_span
        py = height - margin - (height - margin - 30) * y / y_top
        body.append(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='6' fill='{_PALETTE[0]}'/>")
        body.append(_text(px + 9, py - 6, f"{label} ({int(x)}, {y:.2f} s)"))
    return _svg(width, height, body)


def _summary(report: BenchReport) -> str:
    ours = report.retrohunt
    rate = f"{ours.mb_per_second:,.1f} MB/s" if ours.mb_per_second else "-"
    pass_rate = f"{report.pass_rate:.4%}" if report.pass_rate is not None else "-"
    return (
        "<p>"
        f"{len(report.rules)} rules (digest <code>{report.rules_digest[:12]}</code>) over "
        f"{len(report.corpora)} corpus file(s): {report.events:,} events, "
        f"{report.decompressed_bytes / 1e6:,.1f} MB decompressed; {ours.alerts:,} alerts in "
        f"{ours.seconds:.2f} s ({rate}); prefilter pass rate {pass_rate}; "
        f"{len(report.unseen)} rule(s) never saw any of their fields. "
        f"Machine: {html.escape(str(report.machine.get('platform')))}, "
        f"{report.machine.get('cpus')} CPUs; {html.escape(report.created)}."
        "</p>"
    )


def _runs_table(report: BenchReport) -> str:
    rows = [
        [
            run.name,
            f"{run.seconds:.3f}" + (" (extrapolated)" if run.extrapolated else ""),
            f"{run.mb_per_second:,.1f}" if run.mb_per_second else "-",
            f"{run.alerts:,}",
            f"{run.retrohunt_speedup:.2f}×" if run.retrohunt_speedup else "-",
            run.error or run.note,
        ]
        for run in report.runs
    ]
    return _table(["engine", "seconds", "MB/s", "alerts", "retrohunt faster by", "note"], rows)


def _rules_table(report: BenchReport) -> str:
    rows = []
    for rule in [*report.rules, report.total]:
        rows.append(
            [
                rule.name,
                rule.mode,
                str(rule.patterns),
                "-" if rule.fields_seen is None else ("yes" if rule.fields_seen else "no"),
                f"{rule.hits:,}",
                f"{rule.suppressed:,}",
                f"{rule.mb_per_second:,.1f}" if rule.mb_per_second else "-",
                _ratio(rule.precision),
                _ratio(rule.recall),
                str(rule.false_positives) if rule.false_positives is not None else "-",
                "; ".join(f"{value} ×{n}" for value, n in rule.top_false_positives),
            ]
        )
    names = ["rule", "prefilter", "patterns", "fields seen", "hits", "suppressed", "MB/s alone"]
    names += ["precision", "recall", "false positives", "top false-positive values"]
    return _table(names, rows)


def _unseen(report: BenchReport) -> str:
    """The rules that never saw any of their fields, or a line saying there are none."""
    names = report.unseen
    if not names:
        return "<p class='note'>Every rule saw at least one of its fields in the corpora.</p>"
    items = "".join(f"<li>{html.escape(name)}</li>" for name in names)
    return (
        "<h2>Rules that never saw their fields</h2>"
        "<p>No event their logsource admits had a value for any field they read, so they "
        f"cannot match these corpora ({len(names)}):</p><ul id='unseen'>{items}</ul>"
    )


def _compile_table(report: BenchReport) -> str:
    figures = report.compile
    rows = [[name.replace("_", " "), _number(value)] for name, value in figures.items()]
    return "<h2>Compile cost</h2>" + _table(["", "value"], rows)


def _comparison(comparison: Comparison) -> str:
    ratio = comparison.speed_ratio
    lines = [
        "<h2>Rule set B against A</h2>",
        "<p>"
        f"B gains {comparison.gained_count:,} alerts and loses {comparison.lost_count:,}; "
        f"throughput {ratio:.2f}× A's.</p>"
        if ratio
        else "<p>Throughput not comparable.</p>",
    ]
    for title, examples in (("Gained", comparison.gained), ("Lost", comparison.lost)):
        rows = [
            [str(e.get("rule_name")), str(e.get("archive")), str(e.get("line_number")),
             str(e.get("image") or e.get("domain") or e.get("remote_ip") or "")]
            for e in examples
        ]  # fmt: skip
        lines.append(f"<h3>{title} (examples)</h3>")
        lines.append(_table(["rule", "archive", "line", "what"], rows))
    return "\n".join(lines)


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _table(names: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(width: float, height: float, body: Sequence[str]) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' role='img'>" + "".join(body) + "</svg>"
    )


def _rect(x: float, y: float, width: float, height: float, colour: str) -> str:
    return (
        f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(width, 0.0):.1f}' "
        f"height='{max(height, 0.0):.1f}' fill='{colour}'/>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' font-size='12' text-anchor='{anchor}'>"
        f"{html.escape(text)}</text>"
    )


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"
