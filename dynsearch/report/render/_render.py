"""Render the report's blocks (``report.blocks``) twice, as a self-contained ``index.html`` and as
``report.md``, so both always say the same thing. No timestamps: the same blocks give the same bytes.
"""

from __future__ import annotations

import html

from ..figures import PLOTLY_JS
from ._blocks import Block, Bullets, FigureBlock, Heading, Para, Table

__all__ = ["render_html", "render_markdown"]


# --- markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            for i, row in enumerate(b.rows):
                cells = [_md_cell(c) for c in row]
                if i in b.highlight:
                    cells[0] = f"**{cells[0]}**"
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines))
        elif isinstance(b, FigureBlock):
            f = b.figure
            parts = [f"**{f.title}**"]
            if f.png:
                parts.append(f"![{f.title}]({f.png})")
            if f.caption:
                parts.append(f"*{f.caption}*" + (f" [Interactive version]({f.html})." if f.html else ""))
            if f.note:
                parts.append(f"_{f.note}_")
            out.append("\n\n".join(parts))
    return "\n\n".join(out) + "\n"


# --- html ------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.8rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d6d6d6; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } tr.best td { font-weight: 600; background: #eef7ee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.meta { color: #666; font-size: .88rem; }
p.conclusion { font-size: 1.08rem; background: #fff8e6; border-left: 4px solid #e0a800; padding: .6rem .9rem; }
figure { margin: 1.2rem 0 2rem; } figcaption { color: #555; font-size: .9rem; }
figure img { max-width: 100%; border: 1px solid #eee; }
.note { color: #777; font-style: italic; }
code { background: #f3f4f6; padding: 0 .25rem; border-radius: 3px; }
"""


def _inline(text: str) -> str:
    """Escape, then render `code` and **bold** spans."""
    out = []
    for i, chunk in enumerate(text.split("`")):
        if i % 2 == 1:
            out.append(f"<code>{html.escape(chunk)}</code>")
        else:
            parts = html.escape(chunk).split("**")
            out.append("".join(f"<strong>{p}</strong>" if j % 2 == 1 else p for j, p in enumerate(parts)))
    return "".join(out)


def _is_num(text: str) -> bool:
    head = text.split(" ")[0].lstrip("+-−[")
    return bool(head) and (head[0].isdigit() or head == "–")


def _table_html(b: Table) -> str:
    attrs = f' class="{b.css}"' if b.css else ""
    if b.key:
        attrs += f' data-table="{html.escape(b.key)}"'
    lines = [f"<table{attrs}>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
             + "</tr></thead>", "<tbody>"]
    for i, row in enumerate(b.rows):
        tr = ' class="best"' if i in b.highlight else ""
        if i < len(b.row_keys):
            tr += f' data-arm="{html.escape(b.row_keys[i])}"'
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if j > 0 and _is_num(c) else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        )
        lines.append(f"<tr{tr}>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _figure_html(b: FigureBlock) -> str:
    f = b.figure
    parts = [f'<figure id="figure-{html.escape(f.name)}">', f"<h3>{html.escape(f.title)}</h3>"]
    if f.div:
        parts.append(f.div)
    elif f.png:
        parts.append(f'<img src="{html.escape(f.png)}" alt="{html.escape(f.title)}">')
    caption = html.escape(f.caption)
    links = []
    if f.html:
        links.append(f'<a href="{html.escape(f.html)}">interactive</a>')
    if f.png:
        links.append(f'<a href="{html.escape(f.png)}">PNG</a>')
    if links:
        caption += " (" + ", ".join(links) + ")"
    parts.append(f"<figcaption>{caption}</figcaption>")
    if f.note:
        parts.append(f'<p class="note">{html.escape(f.note)}</p>')
    parts.append("</figure>")
    return "\n".join(parts)


def render_html(blocks: list[Block], title: str) -> str:
    needs_plotly = any(isinstance(b, FigureBlock) and b.figure.div for b in blocks)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
    ]
    if needs_plotly:
        head.append(f'<script src="figures/{PLOTLY_JS}"></script>')
    head += ["</head>", "<body>"]
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            anchor = f' id="{html.escape(b.anchor)}"' if b.anchor else ""
            body.append(f"<h{b.level}{anchor}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            css = f' class="{b.css}"' if b.css else ""
            body.append(f"<p{css}>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in b.items) + "</ul>")
        elif isinstance(b, Table):
            body.append(_table_html(b))
        elif isinstance(b, FigureBlock):
            body.append(_figure_html(b))
    return "\n".join(head + body + ["</body>", "</html>"]) + "\n"
