"""The `dashboard` blueprint: the figures of queues.dashboard for every agent, over the
queues they may see, as charts drawn on the server, as tables, and as CSV.

Charts are SVG drawn by pygal on the server: no JavaScript is needed or sent. pygal puts a
<script> with its tooltip configuration into every chart even with `js=[]`; `draw` takes it
out of the tree before writing, so the SVG holds no script at all. Each chart is an image
(`<img src=...svg>`): a browser never runs script or loads anything from an SVG shown as an
image, and the chart's own response carries a Content-Security-Policy that forbids both
anyway (only its inline styles may apply). The same numbers are on the page as a table
under each chart, and `.csv` exports each table.

Need to know holds as everywhere: queues.dashboard counts only the viewer's visible queues,
and an empty installation (or a queue without data) says so instead of drawing nothing.
"""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree

import pygal
from flask import Blueprint, Response, abort, render_template
from pygal.style import Style

from queues.dashboard import FIGURE_KEYS, Figure, dashboard, figure, has_tickets
from webui import db
from webui.login import agent

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

SVG_NS = "http://www.w3.org/2000/svg"
# The chart document's own policy: nothing may load or run; pygal's inline styles apply.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
# Colours with at least 3:1 contrast against white (WCAG 1.4.11, graphical objects).
COLOURS = ("#1f5fa6", "#b3541e", "#2e7d32", "#6a3d9a", "#8c2d3c", "#00695c", "#5d4037")
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#595959",
    colors=COLOURS,
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    no_data_font_size=16,  # pygal's 64 px overflows the chart with a sentence
)
ElementTree.register_namespace("", SVG_NS)
ElementTree.register_namespace("xlink", "http://www.w3.org/1999/xlink")


def _chart(fig: Figure) -> pygal.Graph:
    kind = {"bar": pygal.Bar, "stacked": pygal.StackedBar, "line": pygal.Line}[fig.chart]
    chart = kind(
        style=STYLE,
        width=800,
        height=360,
        explicit_size=True,  # width and height on the <svg>: the image's own size
        disable_xml_declaration=True,
        js=[],
        show_legend=True,
        legend_at_bottom=True,
        x_label_rotation=45 if len(fig.x_labels) > 12 else 0,
        y_title=fig.y_title,
        print_values=False,
        min_scale=1,
        include_x_axis=True,
        allow_interruptions=True,
        no_data_text=fig.empty_text if fig.empty else fig.nothing_to_draw,
    )
    chart.title = fig.title
    chart.x_labels = fig.x_labels
    for name, values in fig.series.items():
        chart.add(name, values)
    return chart


def draw(fig: Figure) -> str:
    """The figure's chart as an SVG document without any script."""
    root = _chart(fig).render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in ("script", f"{{{SVG_NS}}}script"):
                parent.remove(child)
    return ElementTree.tostring(root, encoding="unicode")


def _figure_or_404(key: str) -> Figure:
    if key not in FIGURE_KEYS:
        abort(404)
    return figure(db.session(), agent().user, key)


@bp.get("")
def index() -> str:
    me = agent().user
    session = db.session()
    return render_template(
        "webui/dashboard/index.html",
        figures=dashboard(session, me),
        any_tickets=has_tickets(session, me),
    )


@bp.get("/<key>.svg")
def chart(key: str) -> Response:
    response = Response(draw(_figure_or_404(key)), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


@bp.get("/<key>.csv")
def export(key: str) -> Response:
    fig = _figure_or_404(key)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(fig.columns)
    writer.writerows(fig.rows)
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}.csv"'
    return response
