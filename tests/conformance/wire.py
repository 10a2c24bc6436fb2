"""A zeep client built from the official WSDLs that keeps every raw reply, fault or not, for validation."""
from __future__ import annotations

from collections.abc import Callable

import zeep.exceptions
from lxml import etree

from tests.conformance.schemas import SOAP_ENV, assert_valid_envelope
from tests.interop.onvif_client import TEV, TT, WSNT, Capture, Client

__all__ = ["FAULT", "Capture", "answer", "answer_of", "fault_answer", "items", "messages", "pull", "subscribe"]

FAULT = f"{{{SOAP_ENV}}}Fault"
WSA = "http://www.w3.org/2005/08/addressing"


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


def subscribe(client: Client, *filters: etree._Element) -> str:
    """CreatePullPointSubscription, its answer validated; the pull point's address."""
    body = answer(client, lambda: client.subscribe(*filters))
    assert body.tag == f"{{{TEV}}}CreatePullPointSubscriptionResponse"
    return str(body.findtext(f"{{{TEV}}}SubscriptionReference/{{{WSA}}}Address"))


def pull(client: Client, address: str, timeout: str = "PT0S", limit: int = 1000) -> etree._Element:
    """PullMessages, its answer validated; the ``tev:PullMessagesResponse``."""
    body = answer(client, lambda: client.pull_point(address).PullMessages(Timeout=timeout, MessageLimit=limit))
    assert body.tag == f"{{{TEV}}}PullMessagesResponse", etree.tostring(body)
    return body


def messages(body: etree._Element) -> list[etree._Element]:
    """The ``tt:Message`` of each notification in a pull's answer."""
    return body.findall(f"{{{WSNT}}}NotificationMessage/{{{WSNT}}}Message/{{{TT}}}Message")


def items(message: etree._Element) -> list[str]:
    """The names of a message's ``tt:Data`` items, in document order."""
    return [item.get("Name", "") for item in message.find(f"{{{TT}}}Data")]
