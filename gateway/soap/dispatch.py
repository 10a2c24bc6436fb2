"""What a SOAP endpoint is: a table from body QName to operation.

The SOAP core knows nothing of the services it serves.  The layers above
describe each endpoint as a :class:`Service` — its operations, the access class
each requires, and how to fault an operation it does not know — and the core
does the rest: parse, authenticate, authorise, dispatch, wrap the reply or the
fault.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.soap.build import SerializedBody
from gateway.soap.envelope import Envelope
from gateway.soap.fault import SoapFault


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who sent a request: an authenticated user name and its level, or anonymous."""

    name: str | None
    level: str  # opaque to the SOAP core; the application gives it meaning


ANONYMOUS = Principal(name=None, level="Anonymous")


@dataclass(kw_only=True)
class Request:
    """One dispatched request, as a handler sees it."""

    envelope: Envelope
    body: etree._Element  # the body's first child
    base_url: str  # scheme://host[:port] exactly as the client addressed us
    path: str
    path_params: Mapping[str, str]
    principal: Principal
    state: Any  # the application's shared state (catalog, settings, ...)
    #: The HTTP request's headers, names lower-cased (one value per name); e.g. a call budget set by the level above.
    headers: Mapping[str, str] = field(default_factory=dict)


#: A handler returns the response body element(s) or text, or raises SoapFault.
Handler = Callable[[Request], Awaitable[etree._Element | list[etree._Element] | SerializedBody]]


@dataclass(frozen=True, kw_only=True)
class Operation:
    handler: Handler
    response_action: str
    access: str  # access class name, checked by the application's Authorizer


@dataclass(kw_only=True)
class Service:
    """One endpoint: its operations by body QName (Clark notation).

    ``unknown`` builds the fault for a body QName not in ``operations``.
    ``wsdl`` is the path (below the application's WSDL mount, see
    :class:`gateway.soap.wsdl.WsdlFiles`) of the document served at
    ``<endpoint>?wsdl``.
    ``path_params`` are fixed parameters handed to every request of this
    service; a templated route's own parameters override them.
    """

    operations: dict[str, Operation]
    unknown: Callable[[str], SoapFault]
    wsdl: str | None = None
    path_params: dict[str, str] = field(default_factory=dict)


#: Decides whether ``principal`` may use an operation of ``access`` class;
#: raises the SoapFault to send when it may not.
Authorizer = Callable[[Principal, str], None]

#: Looks a user up for WS-UsernameToken verification: name -> (password, level), None if unknown.
#: Awaited on the event loop: a lookup that blocks (a database query) runs in a worker thread.
CredentialLookup = Callable[[str], Awaitable["tuple[str, str] | None"]]

#: Who a request without WS-Security is, given its ASGI scope; None for anonymous.  The application
#: grants requests that arrived pre-authenticated (through a tunnel it set up itself) a principal here.
PreAuthenticated = Callable[[Mapping[str, Any]], "Principal | None"]
