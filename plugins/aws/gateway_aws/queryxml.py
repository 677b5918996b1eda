"""A bounded reader for the small XML answers of AWS Query APIs (STS): leaf paths and their text.

Only plain elements and text are read: a document type declaration (and so any entity it could
declare, internal or external) is refused, as are documents nested deeper or holding more
elements than an AWS answer does. Namespaces and prefixes are dropped from element names. The
caller bounds the body's size (the HTTP client's cap) before it gets here.
"""

from __future__ import annotations

from xml.parsers import expat

MAX_DEPTH = 8
MAX_ELEMENTS = 256

Path = tuple[str, ...]


class NotAnAnswer(Exception):
    """The bytes are not a plain, small XML document; the text says why (never quoting them)."""


def read_leaves(body: bytes, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> dict[Path, str]:
    """Every leaf element's path from the root (``("ErrorResponse", "Error", "Code")``) and its text, stripped."""
    path: list[str] = []
    text: list[str] = []
    leaves: dict[Path, str] = {}
    elements = 0
    has_children = [False]

    def start(name: str, attributes: object) -> None:
        nonlocal elements
        elements += 1
        if len(path) >= max_depth or elements > max_elements:
            raise NotAnAnswer(f"the XML is deeper than {max_depth} or has more than {max_elements} elements")
        has_children[-1] = True
        path.append(name.rpartition(":")[2])
        has_children.append(False)
        text.clear()

    def end(name: str) -> None:
        if not has_children.pop():
            leaves[tuple(path)] = "".join(text).strip()
        text.clear()
        path.pop()

    def refuse(*_: object) -> None:
        raise NotAnAnswer("the XML declares a document type")

    parser = expat.ParserCreate()
    parser.buffer_text = True  # a text node in one call, not one per line: a third of the parse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise NotAnAnswer("the answer is not XML") from None
    except RecursionError:
        raise NotAnAnswer("the XML is too deeply nested") from None
    return leaves
