"""WSDL documents: what a GET below the WSDL mount returns, what operations a port type has.

The caller names the mount (a URL path ending in ``/``) and two directories
served below it:

* the *official* tree: published documents (a standard's WSDLs and the
  schemas they import), served byte for byte;
* the application's *own* documents, below ``own_prefix`` inside the mount.
  Their service documents carry :data:`ADDRESS_PLACEHOLDER` as every
  ``soap12:address``; when one is served at ``<endpoint>?wsdl`` the
  placeholder becomes the address the client used.

The own service documents import the official ones by a location relative to
an endpoint beside the mount: for a mount ``/a/wsdl/`` they are written as
seen from ``/a/<endpoint>`` (``wsdl/...``).  For an endpoint at another depth
(``/a/b/<id>``) that prefix is rewritten at serve time so the import still
reaches the mount.  Files are read once and kept in memory: the trees are
small and never change while the process runs.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

#: soap12:address location in the own service documents; ``.invalid`` (RFC 2606) never resolves.
ADDRESS_PLACEHOLDER = "http://vms-gateway.invalid/endpoint"

#: A path segment that can name a file and nothing else: no "..", no "%", no "\\".
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class WsdlFiles:
    """The two document trees, looked up by path below :attr:`mount`."""

    def __init__(self, mount: str, *, official: Path | None, own: Path | None, own_prefix: str) -> None:
        if not (mount.startswith("/") and mount.endswith("/") and len(mount) > 1):
            raise ValueError(f"a WSDL mount is a path starting and ending with '/': {mount!r}")
        if not own_prefix.endswith("/"):
            raise ValueError(f"the own documents' prefix must end with '/': {own_prefix!r}")
        self.mount = mount
        self.own_prefix = own_prefix
        self._official = official
        self._own = own
        # How the own service documents' imports start: the mount, seen from an endpoint beside it.
        self._own_import_base = posixpath.basename(mount.rstrip("/")) + "/"
        self._cache: dict[Path, bytes] = {}

    def static(self, relpath: str) -> bytes | None:
        """The unmodified file at ``relpath``, or None if there is none (or the path tries to escape)."""
        if relpath.startswith(self.own_prefix):
            return self._read(self._own, relpath[len(self.own_prefix):])
        return self._read(self._official, relpath)

    def service_document(self, relpath: str, *, base_url: str, endpoint: str) -> bytes | None:
        """The document served at ``<endpoint>?wsdl``, addressed to ``base_url + endpoint``."""
        data = self.static(relpath)
        if data is None or not relpath.startswith(self.own_prefix):
            return data
        address = escape(base_url + endpoint, {'"': "&quot;"})
        mount = posixpath.relpath(self.mount, posixpath.dirname(endpoint))
        data = data.replace(f'location="{self._own_import_base}'.encode(), f'location="{mount}/'.encode())
        return data.replace(ADDRESS_PLACEHOLDER.encode(), address.encode())

    def _read(self, root: Path | None, relpath: str) -> bytes | None:
        segments = relpath.split("/")
        if root is None or not all(_SEGMENT.fullmatch(s) for s in segments):
            return None
        path = root.joinpath(*segments).resolve()
        if path in self._cache:
            return self._cache[path]
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            return None
        data = path.read_bytes()
        self._cache[path] = data
        return data


def content_type(data: bytes) -> str:
    """XML for the schema files (some have no extension); plain text for the licence."""
    return "application/xml" if data.lstrip().startswith(b"<") else "text/plain; charset=utf-8"


_WSDL = "http://schemas.xmlsoap.org/wsdl/"


def port_type_operations(document: Path, port_type: str) -> dict[str, str]:
    """Body QName → operation name for each operation of ``port_type`` (Clark QName) in a WSDL 1.1 tree.

    A document/literal request body is the element of the one part of the
    operation's input message.  ``document`` and the documents it imports
    (``wsdl:import``, followed by relative location) are searched for the
    port type and its messages.
    """
    definitions = _definitions(document, set())
    port = definitions.get(("portType", port_type))
    if port is None:
        raise LookupError(f"no portType {port_type} in {document.name} or its imports")
    operations: dict[str, str] = {}
    for operation in port.iterfind(f"{{{_WSDL}}}operation"):
        message = definitions.get(("message", _resolve(operation.find(f"{{{_WSDL}}}input"), "message")))
        if message is None:
            raise LookupError(f"the input message of {operation.get('name')} is not in {document.name} or its imports")
        operations.setdefault(_resolve(message.find(f"{{{_WSDL}}}part"), "element"), operation.get("name", ""))
    return operations


def _definitions(document: Path, seen: set[Path]) -> dict[tuple[str, str], etree._Element]:
    """The port types and messages of ``document`` and its imports, by (kind, Clark QName)."""
    found: dict[tuple[str, str], etree._Element] = {}
    if document in seen:
        return found
    seen.add(document)
    root = etree.parse(str(document), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    for imported in root.iterfind(f"{{{_WSDL}}}import"):
        found.update(_definitions((document.parent / imported.get("location", "")).resolve(), seen))
    target = root.get("targetNamespace", "")
    for kind in ("portType", "message"):
        for el in root.iterfind(f"{{{_WSDL}}}{kind}"):
            found[(kind, f"{{{target}}}{el.get('name')}")] = el
    return found


def _resolve(el: etree._Element | None, attribute: str) -> str:
    """The Clark QName an attribute's ``prefix:local`` value names, with the prefixes in scope at ``el``."""
    if el is None or el.get(attribute) is None:
        raise LookupError(f"WSDL element without {attribute}")
    prefix, _, local = el.get(attribute, "").rpartition(":")
    return f"{{{el.nsmap.get(prefix or None, '')}}}{local}"
