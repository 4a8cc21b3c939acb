"""HTML from the Jinja2 templates, and PDF from that same HTML (WeasyPrint)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from projections.documents.content import Document
from projections.documents.i18n import translations

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(lang: str) -> jinja2.Environment:
    """One environment per language, its gettext installed (newstyle: `_("… %(x)s", x=…)`)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def html(document: Document) -> str:
    template = environment(document.lang.lang).get_template(f"{document.kind}.html")
    return template.render(doc=document, lang=document.lang)


def pdf(markup: str) -> bytes:
    from weasyprint import HTML  # imported only for a PDF: it takes a while

    return HTML(string=markup, base_url=str(TEMPLATES)).write_pdf()
