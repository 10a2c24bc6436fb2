"""A zeep client built from the official WSDLs that keeps every raw reply, fault or not, for validation."""
from __future__ import annotations

from collections.abc import Callable

import zeep.exceptions
from lxml import etree

from tests.conformance.schemas import SOAP_ENV, assert_valid_envelope
from tests.interop.onvif_client import Capture, Client

__all__ = ["Capture", "FAULT", "answer", "answer_of", "fault_answer"]

FAULT = f"{{{SOAP_ENV}}}Fault"


def answer_of(capture: Capture, call: Callable[[], object]) -> etree._Element:
    """Make ``call``, check the raw reply envelope ``capture`` kept against the schemas, return its body element."""
    capture.last = None
    try:
        call()
    except zeep.exceptions.Fault:
        pass
    assert capture.last is not None, "no reply captured"
    return assert_valid_envelope(capture.last)


def answer(client: Client, call: Callable[[], object]) -> etree._Element:
    """:func:`answer_of` for the interop suite's client."""
    return answer_of(client.capture, call)


def fault_answer(client: Client, call: Callable[[], object]) -> etree._Element:
    """Like :func:`answer` for a call that must fail: returns the validated ``env:Fault``."""
    body = answer(client, call)
    assert body.tag == FAULT, etree.tostring(body)
    return body
