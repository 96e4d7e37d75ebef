"""Text from Office Open XML (DOCX, XLSX, PPTX) and OpenDocument (ODT,
ODS, ODP) files, read straight from their XML parts with a streaming
parser: no tree is built, and nothing is read that the budget has not
allowed. Documents never carry a DTD, so any is refused (no entity
expansion tricks)."""

import xml.etree.ElementTree as ET

from dlp.extract.archive import files, read_member
from dlp.extract.limits import Unreadable

OOXML_DIRS = ("word/", "xl/", "ppt/")
EMBEDDED = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/", "Object ")
ODF_PARTS = ("content.xml", "styles.xml", "meta.xml")


def kind(archive):
    """ "ooxml", "odf" or None (a plain archive)."""
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        return "ooxml"
    if "mimetype" in names and any(n in names for n in ODF_PARTS):
        return "odf"
    return None


def _local(tag):
    return tag.rpartition("}")[2]


class _OoxmlText:
    """Parser target collecting the character data of text elements (w:t,
    a:t, sheet values), with breaks where paragraphs, rows and cells end."""

    TEXT = {"t", "v", "delText"}
    LINE = {"p", "tr", "si", "row", "br", "cr"}
    TAB = {"tab", "tc", "c"}

    def __init__(self):
        self.out = []
        self.capture = 0
        self.shared_index = False

    def start(self, tag, attrib):
        name = _local(tag)
        if name == "c":
            # In a sheet, <c t="s"><v>3</v></c> is an index into the shared
            # strings (scanned on their own), not content.
            self.shared_index = attrib.get("t") == "s"
        elif name in self.TEXT and not (name == "v" and self.shared_index):
            self.capture += 1

    def end(self, tag):
        name = _local(tag)
        if name in self.TEXT and self.capture and not (name == "v" and self.shared_index):
            self.capture -= 1
        if name in self.LINE:
            self.out.append("\n")
        elif name in self.TAB:
            self.out.append("\t")

    def data(self, text):
        if self.capture:
            self.out.append(text)

    def close(self):
        return "".join(self.out)


class _AllText:
    """Parser target keeping all character data (OpenDocument, document
    properties), with <text:s/>, tabs and line ends restored."""

    LINE = {"p", "h", "line-break", "table-row", "list-item"}

    def __init__(self, every_element=False):
        self.out = []
        self.every_element = every_element  # metadata: one value per element

    def start(self, tag, attrib):
        name = _local(tag)
        if name == "s":
            count = next((v for k, v in attrib.items() if _local(k) == "c"), "1")
            self.out.append(" " * min(int(count) if count.isdigit() else 1, 100))
        elif name in ("tab", "table-cell"):
            self.out.append("\t")

    def end(self, tag):
        if self.every_element or _local(tag) in self.LINE:
            self.out.append("\n")

    def data(self, text):
        self.out.append(text)

    def close(self):
        return "".join(self.out)


def xml_text(data, target):
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Unreadable("XML part declares a DTD")
    parser = ET.XMLParser(target=target)  # noqa: S314 - DTDs refused above, so no entities to expand
    try:
        parser.feed(data)
        return parser.close()
    except ET.ParseError as exc:
        raise Unreadable(f"corrupt XML part: {exc}")


def document_text(archive, doc_kind, budget):
    """Yield (member name, text) for the text-bearing parts, and
    (member name, bytes) for embedded files as ("embedded", name, data)."""
    for info in files(archive):
        name = info.filename
        budget.check_time()
        if doc_kind == "ooxml":
            if name.endswith(".xml") and name.startswith(OOXML_DIRS):
                yield "text", name, xml_text(read_member(archive, info, budget), _OoxmlText())
            elif name == "docProps/core.xml":
                yield "text", name, xml_text(read_member(archive, info, budget), _AllText(every_element=True))
            elif name.startswith(EMBEDDED):
                yield "embedded", name, read_member(archive, info, budget)
        elif name in ODF_PARTS:
            target = _AllText(every_element=name == "meta.xml")
            yield "text", name, xml_text(read_member(archive, info, budget), target)
        elif name.startswith(EMBEDDED) and not name.endswith("/"):
            yield "embedded", name, read_member(archive, info, budget)
