"""The only way weasyprint may load a resource while rendering a message:
the message's own inline parts (cid:) and data: URLs. Everything else is
refused before any socket or file is touched."""

import base64
import urllib.parse

from weasyprint.urls import URLFetcher, URLFetcherResponse


class RefusedURL(ValueError):
    pass


class EmbeddedOnlyFetcher(URLFetcher):
    def __init__(self, inline: dict[str, tuple[str, bytes]] | None = None):
        super().__init__(allowed_protocols=("cid", "data"), allow_redirects=False)
        self._inline = inline or {}
        self.refused: list[str] = []  # what the document asked for and did not get

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower()
        if scheme == "cid":
            cid = urllib.parse.unquote(url[4:]).strip("<>")
            if cid in self._inline:
                ctype, data = self._inline[cid]
                return URLFetcherResponse(url, data, {"Content-Type": ctype})
        elif scheme == "data":
            ctype, data = _decode_data_url(url)
            return URLFetcherResponse(url, data, {"Content-Type": ctype})
        self.refused.append(url)
        raise RefusedURL(f"refused to fetch {url[:80]}")


def _decode_data_url(url: str) -> tuple[str, bytes]:
    header, _, payload = url[5:].partition(",")
    params = header.split(";")
    ctype = params[0] or "text/plain"
    if "base64" in (p.strip().lower() for p in params[1:]):
        return ctype, base64.b64decode(urllib.parse.unquote(payload))
    return ctype, urllib.parse.unquote_to_bytes(payload)
