"""Parsing Workday SOAP responses, safely.

* Everything that arrives over the network is parsed with **defusedxml** with DTDs forbidden: a response
  that declares a DTD, entities or external references (XXE, "billion laughs") is refused with
  :class:`UnsafeXml` before any entity is expanded.
* Elements become plain, JSON-able dicts (:func:`to_dict`): attributes as ``"@name"``, the text of an
  element that also has attributes as ``"#text"``, namespaces dropped.  XML does not say whether an
  element *may* repeat, so a one-item list and a single element look the same on the wire; every element
  the schema lets repeat (:data:`REPEATABLE`) is therefore **always** a list, whatever the count, and
  :func:`as_list` normalises anything else a caller reads.
* SOAP 1.1 faults become :class:`SoapFault` (Validation_Error items keep Message, Detail_Message, Xpath,
  Code); :mod:`.client` maps them to the shared typed errors.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from syncbridge.errors import ApiError, ServerError

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"

#: elements that may repeat in the responses we read; always lists after :func:`to_dict`
REPEATABLE = frozenset(
    {
        "ID",
        "Candidate",
        "Job_Requisition",
        "Job_Application_Data",
        "Job_Applied_To_Data",
        "Candidate_Tag_Reference",
        "Candidate_Attachment_Data",
        "Candidate_Pool_Membership_Data",
        "Social_Media_Account_Data",
        "Website_Data",
        "Email_Address",
        "Email_Address_Data",
        "Phone_Number",
        "Resume_Attachment_Data",
        "Attachment_Reference",
        "Candidate_Job_Application_Data",
        "Validation_Error",
        "Role_Assignment_Data",
    }
)


class UnsafeXml(ApiError):
    """The response declared a DTD, entities or external references and was refused unparsed."""


class MalformedXml(ServerError):
    """The response is not well-formed XML (a proxy error page, a truncated body...)."""


_LOCAL: dict[str, str] = {}


def local(tag: str) -> str:
    """``{urn:com.workday/bsvc}Candidate`` → ``Candidate`` (cached: a page repeats a few dozen names)."""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL) < 10_000:
            _LOCAL[tag] = name
    return name


#: deeper than any WWS response (about 15 levels); the element → dict conversion is recursive, so a
#: hostile document nested thousands deep must be refused before it reaches it
MAX_DEPTH = 200


def _depth_exceeds(root: ET.Element, limit: int) -> bool:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in el)
    return False


def parse_document(data: bytes | str, *, connector: str | None = None) -> ET.Element:
    """Parse untrusted XML: DTDs, entity declarations and external references are refused, and so is a
    document nested deeper than :data:`MAX_DEPTH`."""
    try:
        root = _defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(
            f"refused an XML response that declares a DTD or entities ({exc.__class__.__name__}); "
            "Workday never sends one, so this is a misbehaving proxy or an XXE/entity-expansion attempt",
            connector=connector,
        ) from None
    except ET.ParseError as exc:
        raise MalformedXml(f"the response is not well-formed XML ({exc})", connector=connector) from None
    if _depth_exceeds(root, MAX_DEPTH):
        raise MalformedXml(f"the response is nested deeper than {MAX_DEPTH} levels", connector=connector)
    return root


# --- element → dict -----------------------------------------------------------------------------------


def to_dict(el: ET.Element) -> Any:
    """One element as JSON-able data (see the module docstring for the shape)."""
    attrib = el.attrib
    out: dict[str, Any] = {f"@{local(k)}": v for k, v in attrib.items()} if attrib else {}
    if len(el) == 0:
        text = el.text.strip() if el.text else ""
        if not attrib:
            return text
        if text:
            out["#text"] = text
        return out
    promoted: set[str] | None = None  # non-repeatable names that turned out to repeat
    for child in el:
        name = local(child.tag)
        value = to_dict(child)
        if name in REPEATABLE:
            items = out.get(name)
            if items is None:
                out[name] = [value]
            else:
                items.append(value)
        elif name not in out:
            out[name] = value
        elif promoted is not None and name in promoted:
            out[name].append(value)
        else:
            out[name] = [out[name], value]
            promoted = promoted or set()
            promoted.add(name)
    return out


def as_list(value: Any) -> list[Any]:
    """``None`` → ``[]``, a list → itself, anything else → ``[value]``."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def dig(node: Any, *path: str) -> Any:
    """Follow dict keys, taking the first item wherever a list is met; ``None`` when a step is missing."""
    for key in path:
        if isinstance(node, list):
            node = node[0] if node else None
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, list):
        return node[0] if node else None
    return node


def text(value: Any) -> str | None:
    """The text of a leaf as :func:`to_dict` returns it (plain string or ``{"#text": ...}``)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("#text")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def texts(value: Any) -> list[str]:
    return [t for t in (text(v) for v in as_list(value)) if t]


def ref_ids(ref: Any) -> dict[str, str]:
    """``{ID type: value}`` of a reference element (first value per type)."""
    out: dict[str, str] = {}
    if isinstance(ref, list):
        ref = ref[0] if ref else None
    if not isinstance(ref, dict):
        return out
    for item in as_list(ref.get("ID")):
        if isinstance(item, dict) and item.get("@type") and text(item):
            out.setdefault(str(item["@type"]), str(text(item)))
    return out


def descriptor(ref: Any) -> str | None:
    if isinstance(ref, list):
        ref = ref[0] if ref else None
    if isinstance(ref, dict):
        value = ref.get("@Descriptor")
        return str(value) if value else None
    return None


# --- envelope and faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultItem:
    message: str | None = None
    detail: str | None = None
    xpath: str | None = None
    code: str | None = None

    def line(self) -> str:
        parts = [p for p in (self.message, self.detail) if p]
        if self.detail and self.message and self.detail.startswith(self.message):
            parts = [self.detail]
        return " - ".join(parts) or "(no message)"


FaultKind = Literal["validation", "processing", "authentication", "unknown"]


@dataclass(frozen=True)
class SoapFault:
    """A SOAP 1.1 Fault with Workday's detail (Validation_Fault / Processing_Fault)."""

    faultcode: str
    faultstring: str
    kind: FaultKind
    items: tuple[FaultItem, ...] = ()

    @property
    def xpath(self) -> str | None:
        return next((i.xpath for i in self.items if i.xpath), None)

    @property
    def message(self) -> str:
        return self.items[0].line() if self.items else (self.faultstring or self.faultcode or "SOAP fault")

    def details(self) -> list[str]:
        out = [i.line() + (f" at {i.xpath}" if i.xpath else "") for i in self.items[1:]]
        if self.items and self.faultstring and self.faultstring not in self.message:
            out.insert(0, self.faultstring)
        return out


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if local(c.tag) == name), None)


def _child_text(el: ET.Element, name: str) -> str | None:
    c = _child(el, name)
    return c.text.strip() if c is not None and c.text and c.text.strip() else None


def _kind(detail_name: str | None, faultcode: str) -> FaultKind:
    by_detail: dict[str, FaultKind] = {
        "Validation_Fault": "validation",
        "Processing_Fault": "processing",
        "Authentication_Fault": "authentication",
    }
    if detail_name in by_detail:
        return by_detail[detail_name]
    code = faultcode.lower()
    if "validation" in code:
        return "validation"
    if "authentication" in code:
        return "authentication"
    if "processing" in code or code.rsplit(":", 1)[-1].startswith("server"):
        return "processing"
    return "unknown"


def fault_from(el: ET.Element) -> SoapFault:
    """Read a ``Fault`` element (children unqualified in SOAP 1.1, but accept qualified ones too)."""
    faultcode = _child_text(el, "faultcode") or ""
    faultstring = _child_text(el, "faultstring") or ""
    detail = _child(el, "detail")
    body = next(iter(detail), None) if detail is not None else None
    detail_name = local(body.tag) if body is not None else None
    items: list[FaultItem] = []
    if body is not None:
        errors = [c for c in body if local(c.tag) == "Validation_Error"]
        for err in errors or [body]:
            item = FaultItem(
                message=_child_text(err, "Message"),
                detail=_child_text(err, "Detail_Message"),
                xpath=_child_text(err, "Xpath"),
                code=_child_text(err, "Code"),
            )
            if any((item.message, item.detail, item.xpath, item.code)):
                items.append(item)
    return SoapFault(faultcode, faultstring, _kind(detail_name, faultcode), tuple(items))


def body_payload(root: ET.Element) -> ET.Element | SoapFault:
    """The single element inside ``soapenv:Body`` (or the root itself when it is not an envelope)."""
    if local(root.tag) != "Envelope":
        payload: ET.Element | None = root
    else:
        body = _child(root, "Body")
        payload = next(iter(body), None) if body is not None else None
    if payload is None:
        raise MalformedXml("the SOAP envelope has an empty Body")
    if local(payload.tag) == "Fault":
        return fault_from(payload)
    return payload


def find_fault(data: bytes, *, connector: str | None = None) -> SoapFault | None:
    """The SOAP fault in an error response's body, or ``None`` when the body is not a SOAP fault
    (an HTML error page, plain text, empty).  Unsafe XML is still refused."""
    stripped = data.lstrip()
    if not stripped.startswith(b"<"):
        return None
    try:
        root = parse_document(data, connector=connector)
    except MalformedXml:
        return None
    try:
        payload = body_payload(root)
    except MalformedXml:
        return None
    return payload if isinstance(payload, SoapFault) else None


# --- responses -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageInfo:
    """``Response_Results``."""

    total_results: int
    total_pages: int
    page_results: int
    page: int


def _int(value: str | None, default: int = 0) -> int:
    if not value:
        return default
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # "abc", "inf", "1e400": not a count
        return default


def page_info(payload: ET.Element) -> PageInfo:
    rr = _child(payload, "Response_Results")
    if rr is None:
        return PageInfo(0, 0, 0, 1)
    return PageInfo(
        total_results=_int(_child_text(rr, "Total_Results")),
        total_pages=_int(_child_text(rr, "Total_Pages")),
        page_results=_int(_child_text(rr, "Page_Results")),
        page=_int(_child_text(rr, "Page"), 1),
    )


def response_records(payload: ET.Element, name: str) -> list[dict[str, Any]]:
    """Each ``Response_Data/{name}`` as a dict; one record and many records both give a list."""
    data = _child(payload, "Response_Data")
    if data is None:
        return []
    out: list[dict[str, Any]] = []
    for el in data:
        if local(el.tag) == name:
            value = to_dict(el)
            out.append(value if isinstance(value, dict) else {})
    return out


def children_named(payload: ET.Element, names: Iterable[str]) -> dict[str, list[Any]]:
    """Direct children of a write response by local name, each as a list of dicts."""
    wanted = set(names)
    out: dict[str, list[Any]] = {n: [] for n in wanted}
    for el in payload:
        name = local(el.tag)
        if name in wanted:
            out[name].append(to_dict(el))
    return out
