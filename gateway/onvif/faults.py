"""The ONVIF fault vocabulary: ``ter:`` subcodes and the WS-BaseNotification faults.

Two families (docs/wire-format.md §7):

- **Generic ONVIF faults** carry ``ter:`` subcodes under ``env:Sender`` or
  ``env:Receiver`` (:func:`sender`, :func:`receiver`, ...).  Subcode arguments
  are local names in the ``ter`` namespace, e.g. ``faults.INVALID_ARG_VAL``.
- **WS-BaseNotification faults** (CreatePullPointSubscription, PullMessages,
  Renew, Unsubscribe) put a ``wsnt:``/``wsrf-r:`` fault element, which extends
  ``wsrf-bf:BaseFaultType`` and so requires ``wsrf-bf:Timestamp``, into
  ``env:Detail`` (docs/wire-format.md §6.2, §6.4, §6.6, §7).

PROJECT DECISION on the code of WS-BN faults.  Core says event faults "should"
be ``env:Receiver`` / HTTP 500, but the quality bar (docs/decisions.md §9) is *no 500 for a
client's mistake*, and SOAP 1.2's HTTP binding maps ``env:Sender`` to 400.  So a
WS-BN fault caused by the request (a bad filter, topic, time, policy, an
unknown subscription, a concurrent pull) is ``env:Sender`` with the WS-BN fault
QName as its first subcode, e.g. ``env:Sender / wsnt:InvalidFilterFault``; a
capacity or internal problem on our side (``SubscribeCreationFailedFault`` when
MaxPullPoints is reached, ``UnableToDestroySubscriptionFault``) stays
``env:Receiver``.  The Detail element is exactly what WS-BN defines, so a
client that looks only at the Detail (as zeep does) is unaffected.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from lxml import etree

from gateway.onvif.ns import NSMAP, TER, TEV, WSNT, WSRF_BF, WSRF_R
from gateway.onvif.time import format_duration, format_utc
from gateway.soap.fault import RECEIVER, SENDER, FaultVocabulary, SoapFault
from gateway.soap.ns import WSA, XML, qn

# Generic subcodes (docs/wire-format.md §7.2), as local names in the ter namespace.
WELL_FORMED = "WellFormed"
TAG_MISMATCH = "TagMismatch"
TAG = "Tag"
NAMESPACE = "Namespace"
MISSING_ATTR = "MissingAttr"
PROHIB_ATTR = "ProhibAttr"
INVALID_ARGS = "InvalidArgs"
INVALID_ARG_VAL = "InvalidArgVal"
UNKNOWN_ACTION = "UnknownAction"
OPERATION_PROHIBITED = "OperationProhibited"
NOT_AUTHORIZED = "NotAuthorized"
ACTION_NOT_SUPPORTED = "ActionNotSupported"
ACTION = "Action"
NO_SUCH_SERVICE = "NoSuchService"
OUT_OF_MEMORY = "OutofMemory"
CRITICAL_ERROR = "CriticalError"

#: What the SOAP core attaches to the protocol faults it raises itself.  A POST to a path without an
#: endpoint gets WS-Addressing's ``wsa:DestinationUnreachable`` ("no route can be determined to reach
#: the destination"): ONVIF defines no subcode for an address it does not serve (``ter:NoSuchService``
#: is a category GetCapabilities lacks, under env:Receiver), and the gateway speaks WS-Addressing already.
#: A request whose HTTP wrapping is unusable (media type, Host) is refused as a bad argument.
ONVIF_FAULTS = FaultVocabulary(
    no_endpoint=(qn(WSA, "DestinationUnreachable"),),
    bad_request=(qn(TER, INVALID_ARGS),),
    well_formed=(qn(TER, WELL_FORMED),),
    namespace=(qn(TER, NAMESPACE),),  # not a SOAP 1.2 Envelope/Body: "Namespace Error"
    too_large=(qn(TER, INVALID_ARGS),),  # the body is refused as an argument, the client can shrink it
    not_authorized=(qn(TER, NOT_AUTHORIZED),),
    internal=(qn(TER, ACTION),),  # env:Receiver "Action Failed"; no internals on the wire
)

#: Prefixes declared on every WS-BN fault element (its own tag, the BaseFault children).
_FAULT_PREFIXES: dict[str | None, str] = {"wsnt": WSNT, "wsrf-bf": WSRF_BF, "wsrf-r": WSRF_R}


def _ter(code: str, reason: str, subcodes: Iterable[str]) -> SoapFault:
    return SoapFault(code, reason, subcodes=tuple(qn(TER, s) for s in subcodes))


def sender(reason: str, *ter_subcodes: str) -> SoapFault:
    """``env:Sender`` with ``ter:`` subcodes, outermost first: the client's mistake (HTTP 400)."""
    return _ter(SENDER, reason, ter_subcodes)


def receiver(reason: str, *ter_subcodes: str) -> SoapFault:
    """``env:Receiver`` with ``ter:`` subcodes: our failure (HTTP 500)."""
    return _ter(RECEIVER, reason, ter_subcodes)


def invalid_arg_val(specific: str | None, reason: str) -> SoapFault:
    """``env:Sender / ter:InvalidArgVal [/ ter:<specific>]``, e.g. specific ``"NoProfile"``."""
    return sender(reason, INVALID_ARG_VAL, *((specific,) if specific else ()))


def not_authorized(reason: str) -> SoapFault:
    return sender(reason, NOT_AUTHORIZED)


def action_not_supported(reason: str, *ter_subcodes: str) -> SoapFault:
    """``env:Receiver / ter:ActionNotSupported [/ ...]``: a WSDL operation or a part of one this gateway lacks."""
    return receiver(reason, ACTION_NOT_SUPPORTED, *ter_subcodes)


def unknown_action(reason: str) -> SoapFault:
    """``env:Sender / ter:UnknownAction``: a body that is no operation of the service's WSDL."""
    return sender(reason, UNKNOWN_ACTION)


def wsbn_fault(
    tag: str,
    reason: str,
    *,
    code: str = SENDER,
    children: Iterable[tuple[str, str]] = (),
    nsmap: dict[str | None, str] | None = None,
    now: dt.datetime | None = None,
) -> SoapFault:
    """A WS-BN fault: ``tag`` (Clark QName) as first subcode and as the Detail element.

    The element holds ``wsrf-bf:Timestamp``, the reason as ``wsrf-bf:Description``,
    then ``children`` ((Clark tag, text) pairs).  ``nsmap`` adds prefixes that
    QName-valued children need in scope.  ``now`` defaults to the current time.
    """
    el = etree.Element(tag, nsmap={**_FAULT_PREFIXES, **(nsmap or {})})
    stamp = now if now is not None else dt.datetime.now(dt.UTC)
    etree.SubElement(el, qn(WSRF_BF, "Timestamp")).text = format_utc(stamp)
    etree.SubElement(el, qn(WSRF_BF, "Description"), {qn(XML, "lang"): "en"}).text = reason
    for child_tag, text in children:
        etree.SubElement(el, child_tag).text = text
    return SoapFault(code, reason, subcodes=(tag,), detail=(el,))


def _qname_texts(qnames: Iterable[str]) -> tuple[list[str], dict[str | None, str]]:
    """``prefix:local`` texts for Clark QNames, and the prefix declarations they need.

    Namespaces the gateway knows keep their usual prefix; others get ``ns0``,
    ``ns1``...; a QName in no namespace is written bare with ``xmlns=""`` in scope.
    """
    prefixes: dict[str, str] = {uri: prefix for prefix, uri in NSMAP.items()}
    declared: dict[str | None, str] = {}
    texts = []
    for clark in qnames:
        q = etree.QName(clark)
        if q.namespace is None:
            declared[None] = ""
            texts.append(q.localname)
            continue
        prefix = prefixes.setdefault(q.namespace, f"ns{len(prefixes) - len(NSMAP)}")
        declared[prefix] = q.namespace
        texts.append(f"{prefix}:{q.localname}")
    return texts, declared


def invalid_filter(reason: str, unknown: Iterable[str], *, now: dt.datetime | None = None) -> SoapFault:
    """``wsnt:InvalidFilterFault`` listing each unknown filter QName in ``wsnt:UnknownFilter`` (1..n)."""
    texts, extra = _qname_texts(unknown)
    children = [(qn(WSNT, "UnknownFilter"), text) for text in texts]
    return wsbn_fault(qn(WSNT, "InvalidFilterFault"), reason, children=children, nsmap=extra, now=now)


def unrecognized_policy_request(reason: str, policies: Iterable[str], *, now: dt.datetime | None = None) -> SoapFault:
    """``wsnt:UnrecognizedPolicyRequestFault`` naming each policy QName in ``wsnt:UnrecognizedPolicy``."""
    texts, extra = _qname_texts(policies)
    children = [(qn(WSNT, "UnrecognizedPolicy"), text) for text in texts]
    return wsbn_fault(qn(WSNT, "UnrecognizedPolicyRequestFault"), reason, children=children, nsmap=extra, now=now)


def _time_range(name: str, reason: str, minimum: dt.datetime, maximum: dt.datetime | None,
                now: dt.datetime | None) -> SoapFault:  # fmt: skip
    """A termination-time fault carrying the acceptable range, as WS-BN requires (docs/wire-format.md §6.2)."""
    children = [(qn(WSNT, "MinimumTime"), format_utc(minimum))]
    if maximum is not None:
        children.append((qn(WSNT, "MaximumTime"), format_utc(maximum)))
    return wsbn_fault(qn(WSNT, name), reason, children=children, now=now)


def unacceptable_initial_termination_time(reason: str, minimum: dt.datetime, maximum: dt.datetime | None = None,
                                          *, now: dt.datetime | None = None) -> SoapFault:  # fmt: skip
    return _time_range("UnacceptableInitialTerminationTimeFault", reason, minimum, maximum, now)


def unacceptable_termination_time(reason: str, minimum: dt.datetime, maximum: dt.datetime | None = None,
                                  *, now: dt.datetime | None = None) -> SoapFault:  # fmt: skip
    return _time_range("UnacceptableTerminationTimeFault", reason, minimum, maximum, now)


def resource_unknown(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    """``wsrf-r:ResourceUnknownFault``: no such (or an expired) subscription (docs/wire-format.md §6.6, §6.7)."""
    return wsbn_fault(qn(WSRF_R, "ResourceUnknownFault"), reason, now=now)


def _wsnt(name: str, reason: str, now: dt.datetime | None, code: str = SENDER) -> SoapFault:
    return wsbn_fault(qn(WSNT, name), reason, code=code, now=now)


def unable_to_get_messages(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    """A second PullMessages while one is waiting on the same subscription (docs/wire-format.md §6.4 rule 7)."""
    return _wsnt("UnableToGetMessagesFault", reason, now)


def topic_expression_dialect_unknown(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    return _wsnt("TopicExpressionDialectUnknownFault", reason, now)


def invalid_topic_expression(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    return _wsnt("InvalidTopicExpressionFault", reason, now)


def topic_not_supported(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    return _wsnt("TopicNotSupportedFault", reason, now)


def invalid_message_content_expression(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    return _wsnt("InvalidMessageContentExpressionFault", reason, now)


def invalid_producer_properties_expression(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    return _wsnt("InvalidProducerPropertiesExpressionFault", reason, now)


def subscribe_creation_failed(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    """Our capacity is exhausted (e.g. MaxPullPoints, docs/wire-format.md §6.2 rec): ``env:Receiver``."""
    return _wsnt("SubscribeCreationFailedFault", reason, now, RECEIVER)


def unable_to_destroy_subscription(reason: str, *, now: dt.datetime | None = None) -> SoapFault:
    """Unsubscribe failed on our side (docs/wire-format.md §6.7): ``env:Receiver``."""
    return _wsnt("UnableToDestroySubscriptionFault", reason, now, RECEIVER)


def pull_messages_fault(max_timeout_s: float, max_message_limit: int) -> SoapFault:
    """The Timeout exceeds ours: ``tev:PullMessagesFaultResponse`` with both limits
    (docs/wire-format.md §6.4 rule 6)."""
    el = etree.Element(qn(TEV, "PullMessagesFaultResponse"), nsmap={"tev": TEV})
    etree.SubElement(el, qn(TEV, "MaxTimeout")).text = format_duration(max_timeout_s)
    etree.SubElement(el, qn(TEV, "MaxMessageLimit")).text = str(max_message_limit)
    reason = f"Timeout exceeds the maximum of {format_duration(max_timeout_s)}"
    return SoapFault(SENDER, reason, subcodes=(qn(TEV, "PullMessagesFaultResponse"),), detail=(el,))
