"""CalDAV connector: one calendar collection, synced incrementally (RFC 6578, RFC 4791).

Thin adapter over python-caldav's DAVClient: it lists what changed since a sync token (or, on a
server without tokens, compares a PROPFIND listing of ETags with the ETags the caller already
has), fetches only the changed objects with calendar-multiget, and PUTs with If-Match. It keeps
no state but the HTTP session; the caller (daemon/mirror.py) stores tokens and ETags.

Hrefs are the unquoted URL paths of the objects (`/julie/work/abc.ics`), whatever spelling the
server used, so that the same object has the same key in every listing.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.elements import cdav, dav
from caldav.lib import error as caldav_error
from lxml import etree

log = logging.getLogger(__name__)

# One calendar-multiget REPORT per this many hrefs: big enough that a 10,000-object initial sync
# takes ~50 requests, small enough that one answer stays a few MB.
MULTIGET_BATCH = 200

_SYNC_COLLECTION = "{DAV:}sync-collection"
_VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"
_SUPPORTED_REPORT = "{DAV:}supported-report"
_CALENDAR = "{urn:ietf:params:xml:ns:caldav}calendar"
_HREF_SAFE = "/:@!$&'()*+,;=~"


class CalDAVError(Exception):
    """Base of the connector's errors; str() is one sentence a person can act on."""


class AuthError(CalDAVError):
    """The server refused the username or password (401)."""


class NotFound(CalDAVError):
    """The collection URL does not exist (404), or is not a calendar."""


class Unreachable(CalDAVError):
    """Connection refused, name not resolved, TLS failure, timeout, rate limit: retry later."""


class PreconditionFailed(CalDAVError):
    """412 on a PUT with If-Match / If-None-Match: someone else changed the object."""


@dataclass(frozen=True)
class RemoteObject:
    href: str
    etag: str | None
    raw: bytes


@dataclass(frozen=True)
class SyncResult:
    """What changed since the token. `full`: `changed` is the whole collection, anything the
    caller holds that is not in it is gone (first sync, or the server refused the token)."""

    token: str | None
    changed: list[RemoteObject]
    deleted: list[str]
    full: bool


class _TokenRejected(Exception):
    """The server no longer knows the sync token (RFC 6578 §3.2 DAV:valid-sync-token)."""


class _NoSyncCollection(Exception):
    """The server does not do sync-collection on this collection."""


def _network_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's connection and timeout errors (caldav uses niquests, else requests)."""
    found: list[type[BaseException]] = []
    for module in ("niquests.exceptions", "requests.exceptions"):
        try:
            mod = __import__(module, fromlist=["ConnectionError", "Timeout"])
        except ImportError:
            continue
        found += [mod.ConnectionError, mod.Timeout]
    return tuple(found)


_NETWORK_ERRORS = _network_errors()


def _href_key(href: str) -> str:
    """The unquoted path of an href or URL: the one spelling used as a key."""
    return unquote(urlsplit(str(href)).path)


def _status_line(exc: caldav_error.DAVError) -> str:
    """'500 Internal Server Error', without the body caldav appends to its reason."""
    lines = str(exc.reason or "").strip().splitlines()
    first = lines[0][:120] if lines else ""
    if exc.status and not first.startswith(str(exc.status)):
        first = f"{exc.status} {first}".strip()
    return first or "no status"


def _describe_network_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "the TLS certificate could not be verified or the TLS handshake failed"
    if "timed out" in text or "timeout" in text:
        return "the connection timed out"
    if "refused" in text:
        return "the connection was refused"
    if "name or service" in text or "resolve" in text or "getaddrinfo" in text:
        return "the host name could not be resolved"
    return "the connection failed"


class CalendarConnection:
    """One calendar collection on one CalDAV server, over one reused HTTP session."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str | None,
        *,
        timeout: float = 30,
        verify_tls: bool = True,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        parts = urlsplit(self.url)
        self._where = parts.netloc.rpartition("@")[2] or self.url
        self._path = unquote(parts.path)
        self._username = username
        self._password = password
        if not verify_tls:
            log.warning("TLS certificate verification is off for %s", self._where)
        self._client = DAVClient(
            url=self.url,
            username=username,
            password=password,
            timeout=timeout,  # type: ignore[arg-type]  # niquests takes a float
            ssl_verify_cert=verify_tls,
            enable_rfc6764=False,
        )
        # Send Basic credentials with the first request: without this every new connection pays
        # one 401 round trip, and a no-change sync would cost two requests. A server that wants
        # another scheme answers 401 once, and we fall back to caldav's negotiation.
        self._preemptive = password is not None and self._loopback_or_tls()
        if self._preemptive:
            self._set_basic_auth()
        self._calendar = Calendar(client=self._client, url=self.url)
        self._sync_tokens: bool | None = None  # None: not tried yet on this connection
        #: HTTP requests sent on this connection (each response counts, 401 challenges too).
        self.requests = 0
        self._client.session.hooks.setdefault("response", []).append(self._count)

    # -- plumbing --------------------------------------------------------------------------

    def _loopback_or_tls(self) -> bool:
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            return True
        host = parts.hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _set_basic_auth(self) -> None:
        self._client.auth_type = "basic"
        self._client.build_auth_object(["basic"])

    def _count(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return response

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one exchange, turning transport and HTTP failures into the connector's errors."""
        try:
            try:
                return fn(*args)
            except caldav_error.AuthorizationError as exc:
                if exc.status == 401 and self._preemptive:
                    # The server may want Digest: let caldav negotiate from its challenge.
                    self._preemptive = False
                    self._client.auth = None
                    self._client.auth_type = None
                    return fn(*args)
                raise
        except CalDAVError:
            raise
        except caldav_error.RateLimitError as exc:
            raise Unreachable(
                f"The CalDAV server at {self._where} asked to slow down ({exc.reason}); "
                "frontdesk will retry later."
            ) from exc
        except caldav_error.NotFoundError as exc:
            raise NotFound(
                f"The calendar {self.url} does not exist on the server (404): check the "
                "calendar URL in the configuration."
            ) from exc
        except caldav_error.AuthorizationError as exc:
            if exc.status == 401 or exc.status is None:
                raise AuthError(
                    f"The CalDAV server at {self._where} refused the username or password of "
                    f"{self._username!r} (401): check them in the configuration."
                ) from exc
            raise CalDAVError(
                f"The CalDAV server at {self._where} refused to let {self._username!r} {what} "
                f"{self.url} (403): check that this account may read and write that calendar."
            ) from exc
        except caldav_error.DAVError as exc:
            raise CalDAVError(
                f"The CalDAV server at {self._where} failed to {what} {self.url} "
                f"({_status_line(exc)}): see the server's log."
            ) from exc
        except etree.LxmlError as exc:
            raise CalDAVError(
                f"The CalDAV server at {self._where} answered {self.url} with XML that cannot be "
                "read: see the server's log."
            ) from exc
        except _NETWORK_ERRORS as exc:
            raise Unreachable(
                f"Could not reach the CalDAV server at {self._where}: "
                f"{_describe_network_error(exc)}; frontdesk will retry later."
            ) from exc

    def _object_url(self, href: str) -> str:
        base: Any = self._calendar.url
        return str(base.join(quote(href, safe=_HREF_SAFE)))

    def _tree(self, response: Any) -> Any:
        if response.tree is None:
            raise CalDAVError(
                f"The CalDAV server at {self._where} answered {self.url} with something that is "
                "not WebDAV XML: check the calendar URL."
            )
        return response.tree

    def _is_self(self, key: str) -> bool:
        return key.rstrip("/") == self._path.rstrip("/")

    # -- public API ------------------------------------------------------------------------

    def probe(self) -> dict[str, object]:
        """What `frontdesk check` reports: is the URL a calendar, does the server do sync
        tokens and RFC 6638 scheduling. Raises AuthError, NotFound, Unreachable."""

        def run() -> dict[str, object]:
            options = self._client.options(self.url)
            dav_header = str(options.headers.get("DAV", "") or "")
            response: Any = self._calendar._query_properties(
                [dav.ResourceType(), dav.SyncToken(), dav.SupportedReportSet()], depth=0
            )
            tree = self._tree(response)
            own = [
                r
                for r in tree.iter("{DAV:}response")
                if self._is_self(_href_key(r.findtext("{DAV:}href") or ""))
            ]
            scope = own[0] if own else tree
            is_calendar = scope.find(f".//{{DAV:}}resourcetype/{_CALENDAR}") is not None
            token = (scope.findtext(".//{DAV:}sync-token") or "").strip()
            reports = scope.find(f".//{{DAV:}}supported-report-set//{_SYNC_COLLECTION}")
            return {
                "collection": is_calendar,
                "sync_tokens": bool(token) or reports is not None,
                "scheduling": "calendar-auto-schedule" in dav_header,
                "dav": dav_header,
            }

        result: dict[str, object] = self._call("read", run)
        return result

    def sync(self, token: str | None, known_etags: Mapping[str, str | None]) -> SyncResult:
        """What changed since `token`, given the ETags the caller holds.

        RFC 6578 sync-collection when the server does it (a stale token leads to one full
        listing); otherwise a PROPFIND listing of ETags compared with `known_etags`. Changed
        objects are fetched with calendar-multiget, never one GET each.
        """
        # python-caldav marks its own emulated tokens "fake-"; one must never reach a server.
        if token is not None and (not token or token.startswith("fake-")):
            token = None
        return self._call("sync", self._sync, token, known_etags)  # type: ignore[no-any-return]

    def get(self, href: str) -> RemoteObject:
        """One object, by GET."""

        def run() -> RemoteObject:
            response = self._client.request(self._object_url(href), "GET")
            if response.status == 404:
                raise NotFound(f"The calendar object {href} is no longer on the server (404).")
            if response.status >= 400:
                raise caldav_error.error_from_response(caldav_error.DAVError, response)
            raw = response._raw if isinstance(response._raw, bytes) else str(response._raw).encode()
            return RemoteObject(_href_key(href), response.headers.get("ETag"), raw)

        return self._call("read an object of", run)  # type: ignore[no-any-return]

    def put(self, href: str, raw: bytes, etag: str | None) -> str | None:
        """PUT one object with If-Match (If-None-Match: * when new); returns the new ETag when
        the server gives one. Raises PreconditionFailed on 412."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag

        def run() -> str | None:
            response = self._client.put(self._object_url(href), raw, headers)  # type: ignore[arg-type]
            if response.status == 412:
                raise PreconditionFailed(
                    f"The calendar object {href} changed on the server since it was read (412); "
                    "it will be read again."
                )
            if response.status >= 400:
                raise caldav_error.error_from_response(caldav_error.PutError, response)
            new = response.headers.get("ETag")
            return str(new) if new else None

        return self._call("write to", run)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CalendarConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sync internals --------------------------------------------------------------------

    def _sync(self, token: str | None, known: Mapping[str, str | None]) -> SyncResult:
        if self._sync_tokens is not False:
            try:
                return self._sync_by_token(token, known)
            except _NoSyncCollection as exc:
                log.info(
                    "%s does not do sync-collection (%s); comparing ETags instead", self.url, exc
                )
                self._sync_tokens = False
        return self._sync_by_etags(known)

    def _sync_by_token(self, token: str | None, known: Mapping[str, str | None]) -> SyncResult:
        try:
            new_token, listed, deleted = self._sync_collection(token)
        except _TokenRejected:
            if token is None:
                raise CalDAVError(
                    f"The CalDAV server at {self._where} refused a sync of {self.url} without "
                    "a token: see the server's log."
                ) from None
            # RFC 6578 §3.2: start over, once.
            log.warning("%s no longer knows our sync token; doing one full resync", self.url)
            token = None
            try:
                new_token, listed, deleted = self._sync_collection(None)
            except _TokenRejected:
                raise CalDAVError(
                    f"The CalDAV server at {self._where} refused a full resync of {self.url}: "
                    "see the server's log."
                ) from None
        self._sync_tokens = True
        if not new_token:
            # A 207 without a token: this server has no usable tokens.
            self._sync_tokens = False
            if token is None:
                return self._compare_listing(listed, known)
            return self._sync_by_etags(known)
        if token is None:
            changed, gone = self._multiget(listed)
            return SyncResult(new_token, changed, [], full=True)
        wanted = [h for h in listed if listed[h] is None or known.get(h) != listed[h]]
        changed, gone = self._multiget(wanted)
        return SyncResult(new_token, changed, sorted(set(deleted) | set(gone)), full=False)

    def _sync_collection(
        self, token: str | None
    ) -> tuple[str | None, dict[str, str | None], list[str]]:
        """One sync-collection REPORT (more when the server answers 507, RFC 6578 §3.6): the new
        token, href -> ETag of the changed members, and the hrefs of removed members."""
        try:
            result: Any = self._calendar.get_objects_by_sync_token(
                token, load_objects=False, disable_fallback=True
            )
        except caldav_error.NotFoundError:
            raise
        except caldav_error.RateLimitError:
            raise
        except caldav_error.DAVError as exc:
            status = exc.status or 0
            preconditions = set(exc.preconditions)
            if status == 401:
                raise
            if _VALID_SYNC_TOKEN in preconditions:
                raise _TokenRejected() from exc
            if token is not None and status in (400, 403, 409, 412, 500):
                # A token-bearing sync refused without a clear reason: retrying without the
                # token tells a stale token from a refusal.
                raise _TokenRejected() from exc
            if _SUPPORTED_REPORT in preconditions or status in (400, 405, 415, 422, 501):
                raise _NoSyncCollection(f"{status} {exc.reason}") from exc
            raise
        if getattr(result, "truncated", False):
            log.warning(
                "%s cut its sync-collection answer short without a way to continue; "
                "the rest comes with the next sync",
                self.url,
            )
        deleted = {_href_key(str(u)) for u in result.deleted_urls}
        listed: dict[str, str | None] = {}
        for obj in result.objects:
            key = _href_key(str(obj.url))
            if key in deleted or self._is_self(key) or key.endswith("/"):
                continue
            etag = obj.props.get(dav.GetEtag.tag) if obj.props else None
            listed[key] = str(etag) if etag else None
        new_token = result.sync_token
        return (str(new_token) if new_token else None, listed, sorted(deleted))

    def _sync_by_etags(self, known: Mapping[str, str | None]) -> SyncResult:
        """The path for servers without sync tokens: one PROPFIND depth 1 of ETags."""
        response: Any = self._calendar._query_properties(
            [dav.GetEtag(), dav.ResourceType()], depth=1
        )
        listed: dict[str, str | None] = {}
        is_calendar = False
        for response_el in self._tree(response).iter("{DAV:}response"):
            key = _href_key(response_el.findtext("{DAV:}href") or "")
            if self._is_self(key):
                is_calendar = response_el.find(f".//{{DAV:}}resourcetype/{_CALENDAR}") is not None
                continue
            if response_el.find(".//{DAV:}resourcetype/{DAV:}collection") is not None:
                continue
            etag = (response_el.findtext(".//{DAV:}getetag") or "").strip()
            listed[key] = etag or None
        if not is_calendar:
            raise NotFound(
                f"{self.url} exists but is not a calendar: give the URL of a calendar collection."
            )
        return self._compare_listing(listed, known)

    def _compare_listing(
        self, listed: Mapping[str, str | None], known: Mapping[str, str | None]
    ) -> SyncResult:
        known = dict(known.items())  # one read of the caller's map, not one per href
        wanted = [h for h in listed if listed[h] is None or known.get(h) != listed[h]]
        changed, gone = self._multiget(wanted)
        deleted = {h for h in known if h not in listed} | set(gone)
        return SyncResult(None, changed, sorted(deleted), full=False)

    def _multiget(self, hrefs: Iterable[str]) -> tuple[list[RemoteObject], list[str]]:
        """calendar-multiget in batches: the objects found, and the hrefs the server no longer
        has (removed between the listing and the fetch)."""
        wanted = list(hrefs)
        found: list[RemoteObject] = []
        gone: list[str] = []
        for i in range(0, len(wanted), MULTIGET_BATCH):
            batch = wanted[i : i + MULTIGET_BATCH]
            objects = self._multiget_batch(batch)
            found += objects
            have = {o.href for o in objects}
            gone += [h for h in batch if h not in have]
        return found, gone

    def _multiget_batch(self, hrefs: Sequence[str]) -> list[RemoteObject]:
        # caldav's elements nest with "+" (not list concatenation).
        prop = dav.Prop() + [cdav.CalendarData(), dav.GetEtag()]  # noqa: RUF005
        hrefs_xml = [dav.Href(value=quote(h, safe=_HREF_SAFE)) for h in hrefs]
        root = cdav.CalendarMultiGet() + [prop, *hrefs_xml]  # noqa: RUF005
        # RFC 4791 §7.9: no Depth header on calendar-multiget.
        response: Any = self._calendar._query(root, None, "report")
        props = response.expand_simple_props([cdav.CalendarData(), dav.GetEtag()])
        statuses = response.statuses
        objects = []
        for href, values in props.items():
            data = values.get(cdav.CalendarData.tag)
            if data is None and "404" in str(statuses.get(href) or ""):
                continue  # removed since it was listed
            if data is None:
                # Some servers (Google) answer an object with empty data: keep it, so it is not
                # fetched again on every sync; the busy-time reader reports it once.
                log.warning("%s came with no calendar data", _href_key(href))
                data = ""
            etag = values.get(dav.GetEtag.tag)
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            objects.append(RemoteObject(_href_key(href), str(etag) if etag else None, raw))
        return objects
