"""Fetching input images over a real socket (the loopback server) and through a mock transport.

Hard rule: no packet leaves 127.0.0.1. The loopback server is reached with --allow-private-urls
semantics; redirects to other addresses are refused by the policy before any connection, and the
strict (public-only) policy is exercised with ``httpx.MockTransport`` under ``PolicyTransport``.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mock_server import ManualClock
from mock_server.fixtures import catalog, fixture_bytes
from mock_server.image_limits import Fault, ImageInfo, ImageProblem
from mock_server.images import ImageChecker, Rejection, failed_outcome, submit_error
from mock_server.timings import Timings
from mock_server.urlpolicy import UrlPolicy

from .conftest import START, no_dns
from .loopback_images import ImageServer
from .test_images_inspect import LIMITS, encode

pytestmark = pytest.mark.anyio

FAST = Timings.documented(
    image_connect_timeout=0.5, image_read_timeout=0.3, image_fetch_deadline=0.6, image_cache_ttl=600.0
)
"""Small wall timeouts so hanging servers cost a fraction of a second."""
PUBLIC_IP = "93.184.216.34"
"""Only ever handed to a MockTransport: never connected to."""


def checker(
    clock: ManualClock | None = None,
    *,
    allow_private: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Any = no_dns,
    fetch: bool = True,
) -> ImageChecker:
    return ImageChecker(
        LIMITS,
        UrlPolicy(allow_private=allow_private, resolver=resolver),
        clock or ManualClock(START),
        FAST,
        fetch=fetch,
        transport=transport,
    )


async def problem(url: str, **options: Any) -> ImageProblem:
    verdict = await checker(**options).judge(url)
    assert isinstance(verdict, ImageProblem), verdict
    return verdict


@pytest.mark.parametrize("name", list(catalog()))
async def test_every_fixture_over_the_network(image_server: ImageServer, name: str) -> None:
    verdict = await checker().judge(image_server.url(f"/fixtures/{name}"))
    expected = catalog()[name].expect
    if expected is None:
        assert isinstance(verdict, ImageInfo), verdict
    else:
        assert isinstance(verdict, ImageProblem) and verdict.fault is expected, verdict


async def test_the_byte_limit_at_and_one_past_its_edge_without_content_length(
    image_server: ImageServer,
) -> None:
    """The cap counts bytes read, not what headers claim: here there is no Content-Length at all."""
    ok = await checker().judge(image_server.url("/nolength/exactly-10mb.png"))
    assert isinstance(ok, ImageInfo) and ok.size == LIMITS.max_bytes
    over = await problem(image_server.url("/nolength/over-10mb.png"))
    assert over.fault is Fault.TOO_LARGE
    assert over.reason == f"is over 10 MB (stopped reading at {LIMITS.max_bytes} bytes)"


@pytest.mark.parametrize("path", ["/endless", "/endless-chunked"])
async def test_an_endless_body_is_cut_at_the_cap(image_server: ImageServer, path: str) -> None:
    started = time.monotonic()
    found = await problem(image_server.url(path))
    assert found.fault is Fault.TOO_LARGE and "stopped reading" in found.reason
    assert time.monotonic() - started < 5
    sent = image_server.sent[path]
    assert sent < 64 * 1024 * 1024, f"the server pushed {sent} bytes: the client kept reading"


async def test_a_declared_length_over_the_cap_is_refused_unread(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/lie/huge/cat-1024.png"))
    assert found.fault is Fault.TOO_LARGE and found.reason == "is over 10 MB (Content-Length 99999999999)"


async def test_a_length_smaller_than_the_body_yields_a_truncated_image(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/lie/small/cat-1024.png"))
    assert found.fault is Fault.UNDECODABLE and "truncated" in found.reason


async def test_a_length_larger_than_the_body_is_a_broken_exchange(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/lie/short/cat-1024.png"))
    assert found.fault is Fault.UNREACHABLE
    assert found.reason.startswith("not reachable: the host broke the HTTP exchange")


async def test_a_server_that_never_answers_times_out(image_server: ImageServer) -> None:
    started = time.monotonic()
    found = await problem(image_server.url("/hang/headers"))
    assert found.reason == "not reachable: timeout (no data for 0.3 s)"
    assert time.monotonic() - started < 3


async def test_a_server_that_stops_mid_body_times_out(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/hang/body/cat-1024.png"))
    assert found.fault is Fault.UNREACHABLE and "timeout" in found.reason


async def test_a_trickle_is_stopped_by_the_total_deadline(image_server: ImageServer) -> None:
    started = time.monotonic()
    found = await problem(image_server.url("/trickle/cat-1024.png"))  # 13 KB at 1 KB per 50 ms
    assert found.reason == "not reachable: timeout (no complete answer within 0.6 s)"
    assert time.monotonic() - started < 3


async def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    found = await problem(f"http://127.0.0.1:{port}/a.png")
    assert found.fault is Fault.UNREACHABLE and found.reason.startswith("not reachable: connection failed")


@pytest.mark.parametrize("status", [404, 403, 500])
async def test_an_error_status_is_unreachable(image_server: ImageServer, status: int) -> None:
    found = await problem(image_server.url(f"/status/{status}"))
    assert found.reason == f"not reachable: HTTP {status}"


async def test_a_compressed_transfer_is_refused_not_inflated(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/gzip/cat-1024.png"))
    assert found.fault is Fault.UNDECODABLE and "Content-Encoding gzip" in found.reason


async def test_the_content_decides_the_format_not_the_name(image_server: ImageServer) -> None:
    webp_named_png = image_server.put("really-webp.png", encode((600, 600), "WEBP"))
    gif_named_jpg = image_server.put("really-gif.jpg", encode((600, 600), "GIF"))
    verdict = await checker().judge(webp_named_png)
    assert isinstance(verdict, ImageInfo) and verdict.format == "webp"
    assert (await problem(gif_named_jpg)).reason == "unsupported format gif (allowed: jpeg, png, webp)"


async def test_redirects_are_followed_a_few_hops(image_server: ImageServer) -> None:
    verdict = await checker().judge(image_server.url("/redirect/3/cat-1024.png"))
    assert isinstance(verdict, ImageInfo)
    found = await problem(image_server.url("/redirect/4/cat-1024.png"))
    assert found.reason == "not reachable: more than 3 redirects"


@pytest.mark.parametrize(
    "target,words",
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://0.0.0.0/a.png", "unspecified"),
        ("http://224.0.0.1/a.png", "multicast"),
        ("ftp://127.0.0.1/a.png", "scheme ftp is not supported"),
        ("file:///etc/passwd", "not supported"),
    ],
)
async def test_a_redirect_hop_is_checked_before_any_connection(
    image_server: ImageServer, target: str, words: str
) -> None:
    """Even with private addresses allowed, these hops are refused before a socket is opened."""
    found = await problem(image_server.url(f"/redirect-to?to={quote(target, safe='')}"))
    assert found.fault is Fault.UNREACHABLE and found.reason.startswith("not reachable: refused:")
    assert words in found.reason


class Upstream:
    """A pretend public host behind MockTransport: records requests, answers from a script."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answers.get(request.url.path, httpx.Response(404))


async def public_resolver(host: str, port: int) -> list[str]:
    table = {"images.example.com": [PUBLIC_IP], "internal.example.com": ["192.168.1.20"]}
    if host not in table:
        raise OSError(f"{host} does not resolve")
    return table[host]


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.7/a.png",
        "http://127.0.0.1/a.png",
        "http://2130706433/a.png",
        "http://[::1]/a.png",
        "http://localhost/a.png",
        "http://internal.example.com/a.png",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused_under_the_strict_policy(location: str) -> None:
    upstream = Upstream({"/a.png": httpx.Response(302, headers={"Location": location})})
    found = await problem(
        "https://images.example.com/a.png",
        allow_private=False,
        transport=httpx.MockTransport(upstream),
        resolver=public_resolver,
    )
    assert "internal addresses are forbidden" in found.reason, found
    assert [r.url.host for r in upstream.seen] == [PUBLIC_IP]  # the first hop only, pinned
    assert upstream.seen[0].headers["host"] == "images.example.com"


async def test_a_public_image_passes_the_strict_policy() -> None:
    png = fixture_bytes(catalog()["valid-512.png"])
    upstream = Upstream({"/cat.png": httpx.Response(200, content=png)})
    verdict = await checker(
        allow_private=False, transport=httpx.MockTransport(upstream), resolver=public_resolver
    ).judge("https://images.example.com/cat.png")
    assert isinstance(verdict, ImageInfo) and verdict.size == len(png)


async def test_loopback_is_refused_without_the_relaxation(image_server: ImageServer) -> None:
    found = await problem(image_server.url("/fixtures/cat-1024.png"), allow_private=False)
    assert "--allow-private-urls" in found.reason
    assert image_server.hits == {}


async def test_a_connect_timeout_is_named() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    found = await problem(
        "https://images.example.com/a.png",
        allow_private=False,
        transport=httpx.MockTransport(refuse),
        resolver=public_resolver,
    )
    assert found.reason == "not reachable: timeout (could not connect within 0.5 s)"


@pytest.mark.parametrize(
    "url,reason",
    [
        ("ftp://127.0.0.1/a.png", "not reachable: scheme ftp is not supported (use http or https)"),
        ("data:image/png;base64,AAAA", "not reachable: scheme data is not supported"),
        ("//images.example.com/a.png", "not reachable: scheme none is not supported"),
        ("http:///a.png", "not reachable: has no host"),
        ("http://[::1/a.png", "not reachable: is not a valid URL"),
    ],
)
async def test_urls_that_cannot_be_fetched_are_refused_without_the_network(url: str, reason: str) -> None:
    found = await problem(url)
    assert found.reason.startswith(reason)


async def test_a_burst_of_checks_of_one_url_fetches_it_once(image_server: ImageServer) -> None:
    import asyncio

    images = checker()
    url = image_server.url("/fixtures/cat-1024.png")
    verdicts = await asyncio.gather(*(images.judge(url) for _ in range(25)))
    assert all(isinstance(v, ImageInfo) for v in verdicts)
    assert image_server.hits["/fixtures/cat-1024.png"] == 1
    await images.judge(url)
    assert image_server.hits["/fixtures/cat-1024.png"] == 1


async def test_the_cache_expires_on_the_fake_clock(image_server: ImageServer) -> None:
    clock = ManualClock(START)
    images = checker(clock)
    good, gone = image_server.url("/fixtures/cat-1024.png"), image_server.url("/status/404")
    await images.judge(good)
    await images.judge(gone)
    clock.advance(FAST.image_unreachable_ttl)  # unreachable answers are kept briefly ...
    await images.judge(good)
    await images.judge(gone)
    assert (image_server.hits["/fixtures/cat-1024.png"], image_server.hits["/status/404"]) == (1, 2)
    clock.advance(FAST.image_cache_ttl)  # ... what was learned from the bytes, longer
    await images.judge(good)
    assert image_server.hits["/fixtures/cat-1024.png"] == 2
    images.clear()
    await images.judge(good)
    assert image_server.hits["/fixtures/cat-1024.png"] == 3


async def test_the_urls_of_one_request_are_fetched_concurrently(image_server: ImageServer) -> None:
    """Each answer waits until all three requests are in flight: sequential fetching would fail."""
    urls = [image_server.url(f"/barrier/3/cat-1024.png/{i}") for i in range(3)]
    assert await checker().check(urls) == []


async def test_rejections_name_index_url_and_reason_in_order(image_server: ImageServer) -> None:
    urls = [
        image_server.url("/fixtures/cat-1024.png"),
        image_server.url("/fixtures/format.gif"),
        image_server.url("/fixtures/too-small-300.png"),
    ]
    rejections = await checker().check(urls)
    assert [r.index for r in rejections] == [1, 2]
    outcome = failed_outcome(rejections)
    assert outcome.code == "image_processing_error"
    assert outcome.message == (
        f"image_urls[1] {urls[1]}: unsupported format gif (allowed: jpeg, png, webp); "
        f"image_urls[2] {urls[2]}: is 300x300 px; each side must be 512-4096 px"
    )


def test_submit_errors_are_400_or_413_on_image_urls() -> None:
    big = Rejection(0, "https://x/a.png", ImageProblem(Fault.TOO_LARGE, "is over 10 MB"))
    small = Rejection(1, "https://x/b.png", ImageProblem(Fault.DIMENSIONS, "is 300x300 px"))
    assert (submit_error([big, small]).status, submit_error([small, big]).status) == (413, 400)
    assert submit_error([small]).param == "image_urls"
    assert submit_error([small]).message == "image_urls[1] https://x/b.png: is 300x300 px"


async def test_without_fetching_only_the_url_is_judged(image_server: ImageServer) -> None:
    images = checker(fetch=False)
    assert await images.judge(image_server.url("/fixtures/format.gif")) is not None
    assert await images.judge(image_server.url("/fixtures/too-small-300.png")) is None  # not looked at
    assert await images.judge("https://cdn.example.com/image?id=7") is None  # no extension: accepted
    gif = await images.judge("https://cdn.example.com/a.GIF")
    assert isinstance(gif, ImageProblem) and gif.fault is Fault.FORMAT and "extension" in gif.reason
    strict = await checker(fetch=False, allow_private=False).judge("http://127.0.0.1/a.png")
    assert isinstance(strict, ImageProblem) and "loopback" in strict.reason
    assert image_server.hits == {}
