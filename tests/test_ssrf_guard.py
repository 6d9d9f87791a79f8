"""The SSRF guard where it counts: the address a request actually connects to.

``PolicyTransport`` sits under every outgoing request of the fake (callbacks and image fetches).
Here it wraps an ``httpx.MockTransport`` that records what would have been sent, and names
resolve through scripted resolvers: nothing is ever sent, to any address. The submit-time URL
matrix is in test_callback_url_policy.py; delivery-time re-checks in test_callbacks.py; image
redirects in test_images_fetch.py. This file covers the transport itself: every address class
and encoding, DNS answers that change between lookups (rebinding), answers that mix classes or
are not addresses, and redirects whose next hop rebinds.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from mock_server.fixtures import catalog, fixture_bytes
from mock_server.image_limits import ImageInfo
from mock_server.safe_transport import PolicyTransport
from mock_server.urlpolicy import UrlPolicy, UrlRefused

from .test_images_fetch import PUBLIC_IP, checker, problem

pytestmark = pytest.mark.anyio

PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class Recorder:
    """Stands for the network: records each request the policy let through, answers 200."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, content=b"ok")


class Resolver:
    """Answers from a script, one list of addresses per lookup (the last one repeats)."""

    def __init__(self, *answers: Sequence[str] | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return list(answer)


def client(
    resolver: Resolver | None = None, *, allow_private: bool = False
) -> tuple[httpx.AsyncClient, Recorder]:
    recorder = Recorder()
    policy = UrlPolicy(allow_private=allow_private, resolver=resolver or Resolver(OSError("no DNS here")))
    transport = PolicyTransport(policy, httpx.MockTransport(recorder))
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False), recorder


EVERY_CLASS = {
    # IPv4
    "http://127.0.0.1/": "loopback",
    "http://127.255.255.254/": "loopback",
    "http://10.0.0.1/": "private",
    "http://172.16.0.1/": "private",
    "http://192.168.0.1/": "private",
    "http://192.0.2.1/": "private",  # TEST-NET-1
    "http://198.18.0.1/": "private",  # benchmarking
    "http://100.64.0.1/": "reserved",  # carrier-grade NAT
    "http://240.0.0.1/": "reserved",
    "http://255.255.255.255/": "reserved",
    "http://169.254.169.254/": "link-local",  # cloud metadata
    "http://224.0.0.1/": "multicast",
    "http://0.0.0.0/": "unspecified",
    "http://0.1.2.3/": "unspecified",  # "this network"
    # IPv6
    "http://[::1]/": "loopback",
    "http://[::]/": "unspecified",
    "http://[fc00::1]/": "private",
    "http://[fd00:ec2::254]/": "private",  # AWS metadata over IPv6
    "http://[fec0::1]/": "private",  # site-local
    "http://[fe80::1]/": "link-local",
    "http://[ff02::1]/": "multicast",
    "http://[2001:db8::1]/": "private",  # documentation
    # IPv4 inside IPv6
    "http://[::ffff:127.0.0.1]/": "loopback",
    "http://[::ffff:a9fe:a9fe]/": "link-local",
    "http://[::127.0.0.1]/": "loopback",  # IPv4-compatible (deprecated)
    "http://[::ffff:0:10.0.0.1]/": "private",  # SIIT
    "http://[64:ff9b::7f00:1]/": "loopback",  # NAT64
    "http://[64:ff9b:1::a00:1]/": "private",  # local-use NAT64
    "http://[2002:7f00:1::]/": "loopback",  # 6to4
    # legacy IPv4 spellings a resolver accepts
    "http://2130706433/": "loopback",
    "http://0x7f000001/": "loopback",
    "http://0x7f.1/": "loopback",
    "http://0177.0.0.1/": "loopback",
    "http://017700000001/": "loopback",
    "http://127.1/": "loopback",
    "http://127.000.000.001/": "loopback",
    "http://0/": "unspecified",
    "http://127.0.0.1./": "loopback",
    # names
    "http://localhost/": "loopback",
    "http://LOCALHOST./": "loopback",
    "http://api.localhost/": "loopback",
}


HTTPX_REFUSES = {"http://0177.0.0.1/", "http://127.000.000.001/"}
"""Spellings with leading zeros: httpx itself refuses them as invalid URLs (nothing is sent);
a resolver would read them as 127.0.0.1, and the policy does too (test_callback_url_policy.py)."""


@pytest.mark.parametrize("url,kind", EVERY_CLASS.items(), ids=list(EVERY_CLASS))
async def test_every_internal_class_and_encoding_is_refused_before_sending(url: str, kind: str) -> None:
    http, recorder = client()
    async with http:
        if url in HTTPX_REFUSES:
            with pytest.raises(httpx.InvalidURL):
                await http.get(url)
        else:
            with pytest.raises(UrlRefused, match=f"is a {kind} address; internal addresses are forbidden"):
                await http.get(url)
    assert recorder.sent == []


RELAXABLE = {k: v for k, v in EVERY_CLASS.items() if v in ("loopback", "private") and k not in HTTPX_REFUSES}


@pytest.mark.parametrize("url", list(RELAXABLE), ids=list(RELAXABLE))
async def test_relaxed_loopback_and_private_connect_to_the_canonical_address(url: str) -> None:
    """``--allow-private-urls``: admitted, and the connection goes to the address as checked, in
    canonical form (``0x7f.1`` is sent to 127.0.0.1), the Host header kept as written."""
    http, recorder = client(allow_private=True)
    async with http:
        assert (await http.get(url)).status_code == 200
    [sent] = recorder.sent
    host = httpx.URL(url).host
    if host.rstrip(".").lower() in ("localhost", "api.localhost"):
        assert sent.url.host == "127.0.0.1"
    else:
        import ipaddress

        from mock_server.urlpolicy import literal_ip

        ip = literal_ip(host.rstrip("."))
        assert ip is not None and ipaddress.ip_address(sent.url.host) == ip
    assert sent.headers["host"] == httpx.URL(url).netloc.decode()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://240.0.0.1/",
    ],
)
async def test_the_relaxation_never_admits_link_local_multicast_unspecified_or_reserved(url: str) -> None:
    http, recorder = client(allow_private=True)
    async with http:
        with pytest.raises(UrlRefused):
            await http.get(url)
    assert recorder.sent == []


class TestDnsAnswers:
    async def test_a_public_answer_is_pinned_the_name_kept_for_host_and_sni(self) -> None:
        resolver = Resolver([PUBLIC_IP])
        http, recorder = client(resolver)
        async with http:
            await http.get("https://hooks.example.com:8443/cb")
        [sent] = recorder.sent
        assert (sent.url.host, sent.url.port) == (PUBLIC_IP, 8443)
        assert sent.headers["host"] == "hooks.example.com:8443"
        assert sent.extensions["sni_hostname"] == "hooks.example.com"
        assert resolver.asked == ["hooks.example.com"]  # one lookup: nothing resolves it again

    async def test_rebinding_public_then_private_is_refused_on_the_second_lookup(self) -> None:
        resolver = Resolver([PUBLIC_IP], ["127.0.0.1"])
        http, recorder = client(resolver)
        async with http:
            await http.get("https://rebind.example.com/cb")
            with pytest.raises(UrlRefused, match=r"rebind\.example\.com \(127\.0\.0\.1\) is a loopback"):
                await http.get("https://rebind.example.com/cb")
        assert [r.url.host for r in recorder.sent] == [PUBLIC_IP]

    @pytest.mark.parametrize(
        "answer,words",
        [
            ([PUBLIC_IP, "10.0.0.7"], "private"),
            (["10.0.0.7", PUBLIC_IP], "private"),
            ([PUBLIC_V6, "::1"], "loopback"),
            (["::ffff:169.254.169.254"], "link-local"),
            (["fe80::1%eth0"], "link-local"),
            (["64:ff9b::a00:1"], "private"),
            (["0.0.0.0"], "unspecified"),
            (["evil.example.net"], "not an address"),
            ([], "does not resolve"),
        ],
        ids=[
            "public-then-private",
            "private-first",
            "v6-loopback",
            "mapped-metadata",
            "scoped",
            "nat64",
            "zero",
            "name",
            "empty",
        ],
    )
    async def test_any_internal_or_odd_answer_refuses_the_whole_request(
        self, answer: list[str], words: str
    ) -> None:
        http, recorder = client(Resolver(answer))
        async with http:
            with pytest.raises(UrlRefused, match=words):
                await http.get("https://mixed.example.com/cb")
        assert recorder.sent == []

    async def test_a_resolver_failure_refuses_without_sending(self) -> None:
        http, recorder = client(Resolver(OSError("SERVFAIL")))
        async with http:
            with pytest.raises(UrlRefused, match="does not resolve"):
                await http.get("https://broken.example.com/cb")
        assert recorder.sent == []

    async def test_a_public_ipv6_answer_is_pinned_too(self) -> None:
        http, recorder = client(Resolver([PUBLIC_V6]))
        async with http:
            await http.get("https://v6.example.com/cb")
        assert recorder.sent[0].url.host == PUBLIC_V6


class TestRedirectsThatRebind:
    """Image fetches follow up to 3 redirects, each hop through the policy again."""

    async def test_a_redirect_to_the_same_name_now_private_is_refused(self) -> None:
        png = fixture_bytes(catalog()["valid-512.png"])
        seen: list[httpx.Request] = []

        def upstream(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if request.url.path == "/a.png":
                return httpx.Response(302, headers={"Location": "https://images.example.com/b.png"})
            return httpx.Response(200, content=png)

        resolver = Resolver([PUBLIC_IP], ["10.1.2.3"])  # the second lookup rebinds
        found = await problem(
            "https://images.example.com/a.png",
            allow_private=False,
            transport=httpx.MockTransport(upstream),
            resolver=resolver,
        )
        assert "images.example.com (10.1.2.3) is a private address" in found.reason
        assert [r.url.path for r in seen] == ["/a.png"] and resolver.asked == ["images.example.com"] * 2

    async def test_the_same_chain_passes_while_the_name_stays_public(self) -> None:
        png = fixture_bytes(catalog()["valid-512.png"])

        def upstream(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/a.png":
                return httpx.Response(302, headers={"Location": "/b.png"})
            return httpx.Response(200, content=png)

        verdict = await checker(
            allow_private=False, transport=httpx.MockTransport(upstream), resolver=Resolver([PUBLIC_IP])
        ).judge("https://images.example.com/a.png")
        assert isinstance(verdict, ImageInfo)

    @pytest.mark.parametrize(
        "location",
        [
            "http://127.0.0.1./x.png",
            "http://[::127.0.0.1]/x.png",
            "http://[::ffff:0:a00:1]/x.png",
            "http://0x7f.1/x.png",
            "http://user:pw@10.0.0.1/x.png",
        ],
    )
    async def test_redirects_to_encoded_internal_addresses_are_refused(self, location: str) -> None:
        seen: list[httpx.Request] = []

        def upstream(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(302, headers={"Location": location})

        found = await problem(
            "https://images.example.com/a.png",
            allow_private=False,
            transport=httpx.MockTransport(upstream),
            resolver=Resolver([PUBLIC_IP]),
        )
        assert "internal addresses are forbidden" in found.reason
        assert len(seen) == 1
