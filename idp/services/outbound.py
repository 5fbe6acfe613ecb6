"""The one HTTP client for every outbound fetch: jwks_uri, back-channel logout, upstream IdPs.

Any URL a client registers or an operator configures makes idp send a request, so each is
a server-side request forgery risk. Every fetch goes through this client:

- https only in production (http also in development);
- the host's addresses are checked after DNS resolution and the socket connects to the
  address that was checked (no second lookup a rebinding DNS server could answer
  differently). Every resolved address must be public unicast: no loopback, private,
  link-local (cloud metadata), CGNAT, multicast, reserved, unspecified, or their IPv6
  forms (IPv4-mapped, 6to4, Teredo, NAT64 included), unless IDP_OUTBOUND_ALLOW lists the
  host or a network holding the address (in development the default is loopback);
- no proxy from the environment, no redirects, short timeouts, a response size cap.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..errors import IdpError
from ..setting_parsers import Network, parse_allow

log = logging.getLogger("idp.security")
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 512 * 1024
DEVELOPMENT_ALLOW = "127.0.0.0/8,::1/128"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(IdpError, requests.exceptions.ConnectionError):
    """The URL or the address it resolves to is not one idp may fetch; the reason is safe
    to log (it names the host, never a credential)."""


@dataclass(frozen=True)
class Policy:
    """What outbound requests may reach."""

    https_only: bool
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def check_url(self, url: str) -> str:
        """Return the URL's host; raise OutboundRefused for a scheme or literal address
        the rules refuse. Host names are checked again, resolved, at every connection."""
        parts = urlsplit(url)
        allowed = ("https",) if self.https_only else ("https", "http")
        if parts.scheme not in allowed or not parts.hostname:
            raise OutboundRefused(f"only {' or '.join(allowed)} URLs may be fetched")
        if parts.username or parts.password:
            raise OutboundRefused("URLs with credentials are not fetched")
        host = parts.hostname.lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host
        self.check_address(host, address)
        return host

    def check_address(self, host: str, address: IPAddress) -> None:
        """Raise OutboundRefused unless idp may connect to this address for this host."""
        if host.lower().rstrip(".") in self.hosts:
            return
        if any(address in network for network in self.networks):
            return
        if not is_public(address):
            raise OutboundRefused(f"{host} resolves to a non-public address ({address})")


def is_public(address: IPAddress) -> bool:
    """Global unicast, including the IPv4 address inside an IPv6 transition form."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_private
    )


def policy_for(config) -> Policy:
    """The policy of a Config: production is https only; development allows loopback
    unless IDP_OUTBOUND_ALLOW says otherwise."""
    allow = config.outbound_allow or ("" if config.production else DEVELOPMENT_ALLOW)
    hosts, networks = parse_allow(allow)
    return Policy(https_only=config.production, hosts=hosts, networks=networks)


def _connect_checked(conn: HTTPConnection, policy: Policy) -> socket.socket:
    """Resolve once, check every address, connect to a checked one."""
    try:
        infos = socket.getaddrinfo(conn._dns_host, conn.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundRefused(f"{conn.host} does not resolve") from exc
    addresses = []
    for family, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        policy.check_address(conn.host, address)  # one bad answer refuses the host
        addresses.append((family, sockaddr))
    last_error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(conn.timeout if isinstance(conn.timeout, int | float) else None)
        try:
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OutboundRefused(f"{conn.host} has no address")


def _pool_classes(policy: Policy) -> dict[str, type]:
    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect_checked(self, policy)

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect_checked(self, policy)  # TLS then verifies the host name

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    return {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}


class CheckedAdapter(HTTPAdapter):
    """A requests transport adapter applying the policy, the timeouts and the size cap."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.policy.check_url(request.url)
        connect, read = CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
        if isinstance(timeout, tuple):
            connect, read = min(timeout[0] or connect, connect), min(timeout[1] or read, read)
        elif timeout:
            connect, read = min(timeout, connect), min(timeout, read)
        try:
            response = super().send(
                request, stream=True, timeout=(connect, read), verify=verify, cert=cert, proxies={}
            )
        except requests.exceptions.ConnectionError as exc:
            refusal = _refusal_in(exc)
            if refusal is None:
                raise
            raise refusal from exc
        try:
            body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except Exception as exc:  # noqa: BLE001 - any read failure is a failed fetch
            response.close()
            raise requests.exceptions.ConnectionError(
                f"reading the response failed: {type(exc).__name__}"
            ) from exc
        response.close()
        if len(body) > MAX_RESPONSE_BYTES:
            raise OutboundRefused(f"the response is larger than {MAX_RESPONSE_BYTES} bytes")
        response._content = body
        response._content_consumed = True
        return response


def _refusal_in(exc: BaseException) -> OutboundRefused | None:
    """urllib3 wraps what the connection raised; find our refusal to report it as such."""
    seen = 0
    pending = [exc]
    while pending and seen < 20:
        item = pending.pop()
        seen += 1
        if isinstance(item, OutboundRefused):
            return item
        pending.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        for linked in (item.__cause__, item.__context__, getattr(item, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return None


class CheckedSessionMixin:
    """Turns a requests.Session (or Authlib's OAuth2Session) into an outbound client."""

    def _use_policy(self, policy: Policy) -> None:
        self.trust_env = False  # HTTP(S)_PROXY would route around the address checks
        self.max_redirects = 0
        adapter = CheckedAdapter(policy)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False  # a redirect could point anywhere: not followed
        return super().request(*args, **kwargs)


class OutboundSession(CheckedSessionMixin, requests.Session):
    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self._use_policy(policy)


def session(app=None) -> OutboundSession:
    """A new outbound session under the app's policy (the current app by default)."""
    if app is None:
        from flask import current_app

        app = current_app
    return OutboundSession(app.extensions["idp.outbound"])


def init_app(app) -> None:
    app.extensions["idp.outbound"] = policy_for(app.config["IDP"])
