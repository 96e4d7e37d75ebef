"""Django templates for the PDF and the cover message, through an engine of
their own so the engine works without project settings, and so an override
(a domain's own cover text) is just a template string."""

from functools import cache
from pathlib import Path

from django.template import Context, Engine

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@cache
def engine() -> Engine:
    return Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True, libraries={})


def render(name: str, context: dict, override: str | None = None, autoescape: bool = True) -> str:
    """Render the named template, or the override source in its place."""
    eng = engine()
    template = eng.from_string(override) if override else eng.get_template(name)
    # No localisation: it would need project settings, and numbers here are plain.
    return template.render(Context(context, autoescape=autoescape, use_l10n=False, use_tz=False))
