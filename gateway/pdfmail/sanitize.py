"""Make an email's HTML safe to lay out: nh3 keeps formatting and drops
scripts, styles sheets, event handlers and anything that would load from
the network. Images stay only when they are embedded (cid: or data:)."""

import nh3

# Properties that cannot carry url(): colours, text and box layout only.
_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
    "text-align", "text-decoration", "vertical-align", "white-space", "direction",
    "margin", "margin-left", "margin-right", "margin-top", "margin-bottom",
    "padding", "padding-left", "padding-right", "padding-top", "padding-bottom",
    "border", "border-collapse", "border-color", "border-style", "border-width",
    "width", "height", "max-width", "line-height", "display",
}  # fmt: skip

_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = {"style", "dir", "lang", "title"}
_ATTRIBUTES.setdefault("td", set()).update({"width", "valign", "bgcolor"})
_ATTRIBUTES.setdefault("table", set()).update({"width", "cellpadding", "cellspacing", "border"})
_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "tfoot"}
_ATTRIBUTES["font"] = {"color", "face", "size"}


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    # An image loads its source: only embedded ones may stay.
    if element == "img" and attribute == "src":
        return value if value.strip().lower().startswith(("cid:", "data:image/")) else None
    return value


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "head", "object", "embed", "iframe", "template"},
        attributes=_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
    )
