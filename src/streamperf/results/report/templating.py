"""The report's one Jinja environment: templates/ rendered with every value escaped.

The report shows what a run's log holds (viewer names, error texts, settings,
host names), so no value may reach the page unescaped. The environment
autoescapes: a template field that forgets escaping cannot exist, and Python
hands the templates plain data, never markup.

This module imports jinja2; html.py and tiles.py import it only when they
render, so the pytest plugin that imports them stays cheap.
"""

from __future__ import annotations

import functools
from html import escape
from typing import Any

import jinja2
from jinja2.ext import Extension
from markupsafe import Markup


def render(name: str, **context: Any) -> str:
    """Template `name` (templates/NAME) rendered with `context`."""
    return _environment().get_template(name).render(**context)


@functools.cache
def _environment() -> jinja2.Environment:
    # Built on first render, not at import: parsing the templates is the caller's cost.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("streamperf.results.report", "templates"),
        autoescape=True,  # style.css too: it has no field, and none may come unescaped
        undefined=jinja2.StrictUndefined,
        finalize=_escaped,
        keep_trailing_newline=True,  # style.css ends its <style> block with a line break
        extensions=[_OneLine],
    )


def _escaped(value: object) -> object:
    """Escape as html.escape does: the entities the report has always had (&quot;,
    &#x27;), where markupsafe writes &#34; and &#39;. Markup (a macro's output)
    stays as it is, as autoescape would leave it."""
    if hasattr(value, "__html__"):
        return value
    return Markup(escape(str(value), quote=True))


class _OneLine(Extension):
    """The .html templates are written a tag a line, indented; the page comes out as one
    line, as pytest-html and the tests have always read it (tags side by side).

    Joins each line of the template's source, indentation dropped, before Jinja parses
    it; the data rendered into it is never touched. So a line break in a template is no
    space on the page: text that needs a space keeps it within one line.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if name is None or not name.endswith(".html"):
            return source
        return "".join(line.strip() for line in source.splitlines())
