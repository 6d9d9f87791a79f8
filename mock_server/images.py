"""Input images: judge every ``image_urls`` entry against the documented limits.

With ``--image-check on`` (the default) each URL is fetched (``image_fetch``: URL policy on
every hop, timeouts, a byte cap) and its bytes judged by Pillow (``image_sniff``). With ``off``
nothing is fetched: only the URL is judged (scheme, a literal internal host, the extension).

What was learned about a URL (its info, or the failure) is remembered in an ``ExpiringCache``
bounded in entries and in time. Expiry runs on the fake's clock (tests expire entries by
advancing the manual clock; a fast ``--time-scale`` only costs refetches); concurrent checks of
one URL share one fetch. The up to 3 URLs of one request are judged concurrently.

A failure becomes, per ``--image-errors``, a failed task (``failed_outcome``) or a 400/413 at
submit (``submit_error``). Messages name the URL and the reason.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpx

from .clock import Clock
from .config import IMAGE_CACHE_SIZE
from .errors import ApiError, InvalidRequest, RequestTooLarge
from .expiring_cache import ExpiringCache
from .image_fetch import SCHEMES, ImageFetcher
from .image_limits import Fault, ImageInfo, ImageLimits, ImageProblem, Verdict
from .image_sniff import sniff
from .tasks import Failed
from .timings import Timings
from .urlpolicy import AddressClass, UrlPolicy, UrlRefused, classify, classify_name, literal_ip, split

CACHE_ENTRIES = IMAGE_CACHE_SIZE
"""Image URLs remembered at once (least recently used dropped; ``--image-cache-size``); each
entry holds a thumbnail of at most ~100 KB, so the default cache stays within a few tens of MB."""
URL_SHOWN = 200
"""Characters of a URL quoted in an error message."""


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    url: str
    problem: ImageProblem

    @property
    def message(self) -> str:
        shown = self.url if len(self.url) <= URL_SHOWN else self.url[: URL_SHOWN - 3] + "..."
        return f"image_urls[{self.index}] {shown}: {self.problem.reason}"


def failed_outcome(rejections: Sequence[Rejection]) -> Failed:
    """The failed task's outcome: the first rejection's code, every rejection in the message."""
    return Failed(rejections[0].problem.fault.code, "; ".join(r.message for r in rejections))


def submit_error(rejections: Sequence[Rejection]) -> ApiError:
    """The submit-time error: 413 when the first rejected image is too large, else 400."""
    message = "; ".join(r.message for r in rejections)
    if rejections[0].problem.fault is Fault.TOO_LARGE:
        return RequestTooLarge(message, param="image_urls")
    return InvalidRequest(message, param="image_urls")


class ImageChecker:
    def __init__(
        self,
        limits: ImageLimits,
        policy: UrlPolicy,
        clock: Clock,
        timings: Timings,
        *,
        fetch: bool = True,
        capacity: int = CACHE_ENTRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.limits = limits
        self.policy = policy
        self.timings = timings
        self.fetching = fetch
        self.fetcher = ImageFetcher(policy, timings, limits, transport=transport)
        self.cache: ExpiringCache[str, Verdict] = ExpiringCache(capacity, clock.now)

    async def open(self) -> None:
        if self.fetching:
            await self.fetcher.open()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    def clear(self) -> None:
        self.cache.clear()

    async def check(self, urls: Sequence[str]) -> list[Rejection]:
        """Every rejected URL of one request, in order (empty when all pass)."""
        if len(urls) == 1:  # the common case: no task wrapping for one URL
            verdicts = [await self.judge(urls[0])]
        else:
            verdicts = list(await asyncio.gather(*(self.judge(url) for url in urls)))
        return [
            Rejection(index, url, verdict)
            for index, (url, verdict) in enumerate(zip(urls, verdicts, strict=True))
            if isinstance(verdict, ImageProblem)
        ]

    async def judge(self, url: str) -> Verdict | None:
        """The verdict on one URL; None when it passes unseen (image check off)."""
        problem = self._judge_url(url)
        if problem is not None or not self.fetching:
            return problem
        return await self.cache.get_or_make(url, lambda: self._learn(url))

    async def info(self, url: str) -> ImageInfo | None:
        """What is known of a valid image at ``url`` (fetched again if forgotten), else None."""
        verdict = await self.judge(url)
        return verdict if isinstance(verdict, ImageInfo) else None

    async def _learn(self, url: str) -> tuple[Verdict, float]:
        got = await self.fetcher.fetch(url)
        verdict = await anyio.to_thread.run_sync(sniff, got, self.limits) if isinstance(got, bytes) else got
        transient = isinstance(verdict, ImageProblem) and verdict.fault.transient
        ttl = self.timings.image_unreachable_ttl if transient else self.timings.image_cache_ttl
        return verdict, ttl

    def _judge_url(self, url: str) -> ImageProblem | None:
        """What can be said without the network: the scheme; when not fetching, the host as
        written and the extension."""
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in SCHEMES:
            return ImageProblem(
                Fault.UNREACHABLE,
                f"not reachable: scheme {scheme or 'none'} is not supported (use http or https)",
            )
        try:
            target = split(url)
        except UrlRefused as exc:
            return ImageProblem(Fault.UNREACHABLE, f"not reachable: {exc}")
        if self.fetching:
            return None
        try:
            ip = literal_ip(target.host)
            if ip is not None:
                self.policy.check_address(target.host, classify(ip))
            elif classify_name(target.host) is AddressClass.LOOPBACK:
                self.policy.check_address(target.host, AddressClass.LOOPBACK)
        except UrlRefused as exc:
            return ImageProblem(Fault.UNREACHABLE, f"not reachable: refused: {exc}")
        extension = posixpath.splitext(urlsplit(url).path)[1].lower()
        if extension and extension not in self.limits.extensions:
            return ImageProblem(
                Fault.FORMAT,
                f"unsupported format {extension.lstrip('.')} (allowed: {self.limits.allowed_extensions}; "
                "judged by the URL's extension: --image-check is off)",
            )
        return None
