"""ONVIF and OASIS WS-Notification namespaces, and the prefixes the gateway emits.

Topic strings such as ``tns1:Resource/MediaProfile`` and item types such as
``tt:ReferenceToken`` are QNames inside text, so every emitted document must
declare these prefixes (docs/wire-format.md §1.2): :data:`NSMAP` is used as the root nsmap.
"""
from gateway.soap.ns import SOAP_ENV, WSA

TT = "http://www.onvif.org/ver10/schema"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TNS1 = "http://www.onvif.org/ver10/topics"
TER = "http://www.onvif.org/ver10/error"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSNTW = "http://docs.oasis-open.org/wsn/bw-2"
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
WSRF_BF = "http://docs.oasis-open.org/wsrf/bf-2"
WSRF_R = "http://docs.oasis-open.org/wsrf/r-2"
TUP = "http://www.onvif.org/ver10/uplink/wsdl"
XS = "http://www.w3.org/2001/XMLSchema"

NSMAP: dict[str, str] = {
    "s": SOAP_ENV,
    "wsa": WSA,
    "tt": TT,
    "tds": TDS,
    "tev": TEV,
    "tns1": TNS1,
    "ter": TER,
    "wsnt": WSNT,
    "wstop": WSTOP,
    "wsrf-bf": WSRF_BF,
    "wsrf-r": WSRF_R,
    "xs": XS,
}

# Topic expression dialects (docs/wire-format.md §1.3).
DIALECT_CONCRETE = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"
DIALECT_CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
DIALECT_ITEM_FILTER = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
