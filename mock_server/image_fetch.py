"""Download one input image, safely: the URL policy on every hop, timeouts, a hard byte cap.

Every connection goes through ``PolicyTransport``, so the policy is applied to the address
actually connected to, for the first URL and for each redirect hop; a request hook refuses
schemes other than http and https on every hop. Connect and read timeouts come from httpx, and
a total deadline bounds a host that trickles bytes. The body is streamed and reading stops at
``max_bytes``: a body is never buffered past the cap, whatever ``Content-Length`` says.

Timeouts are wall seconds (network time), not clock seconds: ``--time-scale`` does not scale them.
"""

from __future__ import annotations

import anyio
import httpx

from .image_limits import Fault, ImageLimits, ImageProblem
from .safe_transport import PolicyTransport
from .timings import Timings
from .urlpolicy import UrlPolicy, UrlRefused

MAX_REDIRECTS = 3
"""Redirect hops followed per image (the fake's choice; each hop is checked by the policy)."""
SCHEMES = ("http", "https")
USER_AGENT = "evolink-mock image check"


async def _only_http(request: httpx.Request) -> None:
    if request.url.scheme not in SCHEMES:
        raise UrlRefused(f"scheme {request.url.scheme or 'none'} is not supported (use http or https)")


class ImageFetcher:
    """One shared ``httpx.AsyncClient`` between ``open`` and ``aclose`` (the app's lifespan).

    The client is built on the first fetch, not in ``open``: building one costs tens of ms (TLS
    context) that start-up need not pay. Used outside ``open``/``aclose`` (an app driven without
    its lifespan), each fetch gets a client of its own, closed afterwards: slower, never wrong.
    """

    def __init__(
        self,
        policy: UrlPolicy,
        timings: Timings,
        limits: ImageLimits,
        *,
        max_redirects: int = MAX_REDIRECTS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.timings = timings
        self.limits = limits
        self.max_redirects = max_redirects
        self._inner = transport
        self._client: httpx.AsyncClient | None = None
        self._serving = False

    def _new_client(self) -> httpx.AsyncClient:
        t = self.timings
        inner = self._inner if self._inner is not None else httpx.AsyncHTTPTransport(retries=0)
        return httpx.AsyncClient(
            transport=PolicyTransport(self.policy, inner),
            timeout=httpx.Timeout(
                t.image_read_timeout, connect=t.image_connect_timeout, pool=t.image_connect_timeout
            ),
            follow_redirects=True,
            max_redirects=self.max_redirects,
            headers={"Accept-Encoding": "identity", "User-Agent": USER_AGENT},
            event_hooks={"request": [_only_http]},
            trust_env=False,  # an environment proxy would connect somewhere the policy never saw
        )

    async def open(self) -> None:
        self._serving = True

    async def aclose(self) -> None:
        self._serving = False
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def fetch(self, url: str) -> bytes | ImageProblem:
        """The image's bytes, or why they could not be had (never raises for network trouble)."""
        if self._serving:
            if self._client is None:
                self._client = self._new_client()
            return await self._fetch_with(self._client, url)
        async with self._new_client() as client:
            return await self._fetch_with(client, url)

    async def _fetch_with(self, client: httpx.AsyncClient, url: str) -> bytes | ImageProblem:
        t = self.timings
        try:
            with anyio.fail_after(t.image_fetch_deadline):
                return await self._download(client, url)
        except TimeoutError:
            return _unreachable(f"timeout (no complete answer within {t.image_fetch_deadline:g} s)")
        except httpx.ConnectTimeout:
            return _unreachable(f"timeout (could not connect within {t.image_connect_timeout:g} s)")
        except httpx.TimeoutException:
            return _unreachable(f"timeout (no data for {t.image_read_timeout:g} s)")
        except httpx.TooManyRedirects:
            return _unreachable(f"more than {self.max_redirects} redirects")
        except UrlRefused as exc:
            return _unreachable(f"refused: {exc}")
        except httpx.InvalidURL as exc:
            return _unreachable(f"not a valid URL ({exc})")
        except httpx.HTTPError as exc:
            return _unreachable(_describe(exc))

    async def _download(self, client: httpx.AsyncClient, url: str) -> bytes | ImageProblem:
        cap = self.limits.max_bytes
        async with client.stream("GET", url) as response:
            if not response.is_success:
                return _unreachable(f"HTTP {response.status_code}")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                return ImageProblem(
                    Fault.UNDECODABLE,
                    f"undecodable: the host sent Content-Encoding {encoding} although identity was asked for",
                )
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > cap:
                return self._too_large(f"Content-Length {declared}")
            body = bytearray()
            async for chunk in response.aiter_bytes():  # identity encoding: the bytes as sent
                if len(body) + len(chunk) > cap:
                    return self._too_large(f"stopped reading at {cap} bytes")
                body += chunk
            return bytes(body)

    def _too_large(self, detail: str) -> ImageProblem:
        return ImageProblem(Fault.TOO_LARGE, f"is over {self.limits.max_size_text} ({detail})")


def _unreachable(why: str) -> ImageProblem:
    return ImageProblem(Fault.UNREACHABLE, f"not reachable: {why}")


_KINDS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectError, "connection failed"),
    (httpx.RemoteProtocolError, "the host broke the HTTP exchange"),
    (httpx.ReadError, "connection lost while reading"),
    (httpx.UnsupportedProtocol, "unsupported scheme"),
)


def _describe(exc: httpx.HTTPError) -> str:
    for kind, words in _KINDS:
        if isinstance(exc, kind):
            return f"{words} ({exc})" if str(exc) else words
    return f"{type(exc).__name__} ({exc})"
