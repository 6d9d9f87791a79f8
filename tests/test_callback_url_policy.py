"""callback_url at submit: HTTPS only, no internal addresses in any encoding, names checked as
they resolve. Nothing here connects anywhere: the policy only classifies, and names resolve
through an injected resolver."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.urlpolicy import AddressClass, classify, literal_ip

from .conftest import AUTH, GENERATE, VALID_BODY, assert_error, create, make_client

INTERNAL = [
    "https://127.0.0.1/cb",
    "https://127.255.255.254/cb",
    "https://10.0.0.1/cb",
    "https://172.16.0.1/cb",
    "https://172.31.255.255/cb",
    "https://192.168.1.10/cb",
    "https://169.254.169.254/latest/meta-data",
    "https://0.0.0.0/cb",
    "https://100.64.0.1/cb",
    "https://224.0.0.1/cb",
    "https://[::1]/cb",
    "https://[::ffff:127.0.0.1]/cb",
    "https://[::ffff:10.0.0.1]/cb",
    "https://[fe80::1]/cb",
    "https://[fc00::1]/cb",
    "https://[fd12:3456::1]/cb",
    "https://[::]/cb",
    "https://[64:ff9b::a00:1]/cb",
    "https://[2002:a00:1::]/cb",
    "https://2130706433/cb",
    "https://0x7f000001/cb",
    "https://0x7f.1/cb",
    "https://0177.0.0.1/cb",
    "https://127.1/cb",
    "https://017700000001/cb",
    "https://localhost/cb",
    "https://api.localhost/cb",
    "https://LOCALHOST./cb",
    "https://127.0.0.1:8443/cb",
    # more classes: broadcast, reserved, IETF protocol, benchmarking, documentation, site-local
    "https://255.255.255.255/cb",
    "https://240.0.0.1/cb",
    "https://192.0.0.1/cb",
    "https://198.18.0.1/cb",
    "https://192.0.2.1/cb",
    "https://[fec0::1]/cb",
    "https://[ff02::1]/cb",
    "https://[2001:db8::1]/cb",
    # more encodings of 127.0.0.1 and 10.0.0.1
    "https://[::127.0.0.1]/cb",
    "https://[::ffff:7f00:1]/cb",
    "https://[0:0:0:0:0:ffff:127.0.0.1]/cb",
    "https://[::ffff:0:127.0.0.1]/cb",
    "https://[64:ff9b:1::a00:1]/cb",
    "https://127.0.0.1./cb",
    "https://127.000.000.001/cb",
    "https://0x7f.0x0.0x0.0x1/cb",
    "https://0/cb",
    "https://%31%32%37.0.0.1/cb",
    "https://public.example@127.0.0.1/cb",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_callback_hosts_are_rejected(api: Any, url: str) -> None:
    error = assert_error(api.post(GENERATE, json={**VALID_BODY, "callback_url": url}, headers=AUTH), 400)
    assert error["param"] == "callback_url"
    assert "forbidden" in error["message"]


@pytest.mark.parametrize(
    "url",
    ["１２７．０．０．１", "127。0。0。1", "①②⑦.0.0.1", "127.0.0.1\\@public.example", "[fe80::1%25eth0]"],
    ids=["fullwidth", "ideographic-dots", "circled", "backslash", "zone-id"],
)
def test_hosts_that_fold_to_internal_addresses_are_rejected(api: Any, url: str) -> None:
    """Not ASCII URIs (refused as such), or judged as the address they fold to: never accepted."""
    body = {**VALID_BODY, "callback_url": f"https://{url}/cb"}
    assert_error(api.post(GENERATE, json=body, headers=AUTH), 400, "callback_url")


@pytest.mark.parametrize(
    "url",
    [
        "https://172.32.0.1/cb",
        "https://8.8.8.8/cb",
        "https://[2001:4860::8888]/cb",
        "https://[::ffff:8.8.8.8]/cb",
        "https://[64:ff9b::808:808]/cb",
        "https://0127.0.0.1/cb",  # octal: 87.0.0.1, as a resolver reads it
    ],
)
def test_public_addresses_are_accepted(api: Any, url: str) -> None:
    create(api, {**VALID_BODY, "callback_url": url})


async def resolver(host: str, port: int) -> list[str]:
    table = {
        "public.test": ["93.184.216.34"],
        "internal.test": ["10.1.2.3"],
        "mixed.test": ["93.184.216.34", "192.168.0.7"],
        "v6internal.test": ["fd00::5"],
    }
    if host not in table:
        raise OSError("no such name")
    return table[host]


@pytest.mark.parametrize("host", ["internal.test", "mixed.test", "v6internal.test"])
def test_names_resolving_to_internal_addresses_are_rejected(clock: Any, host: str) -> None:
    with make_client(clock, resolver=resolver) as api:
        response = api.post(GENERATE, json={**VALID_BODY, "callback_url": f"https://{host}/cb"}, headers=AUTH)
        assert "forbidden" in assert_error(response, 400, "callback_url")["message"]


def test_names_resolving_to_public_addresses_and_unresolvable_names_are_accepted(clock: Any) -> None:
    with make_client(clock, resolver=resolver) as api:
        create(api, {**VALID_BODY, "callback_url": "https://public.test/cb"})
        create(api, {**VALID_BODY, "callback_url": "https://not-resolvable.test/cb"})


class TestAllowPrivateUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9000/cb",
            "https://localhost/cb",
            "http://192.168.1.2/cb",
            "https://[::1]:8443/cb",
        ],
    )
    def test_loopback_and_private_hosts_and_http_for_them(self, clock: Any, url: str) -> None:
        with make_client(clock, allow_private_urls=True) as api:
            create(api, {**VALID_BODY, "callback_url": url})

    @pytest.mark.parametrize(
        "url,words",
        [
            ("http://8.8.8.8/cb", "https://"),
            ("https://169.254.169.254/cb", "link-local"),
            ("https://0.0.0.0/cb", "unspecified"),
            ("https://[ff02::1]/cb", "multicast"),
        ],
    )
    def test_still_refuses_http_to_public_hosts_and_non_private_classes(
        self, clock: Any, url: str, words: str
    ) -> None:
        with make_client(clock, allow_private_urls=True) as api:
            response = api.post(GENERATE, json={**VALID_BODY, "callback_url": url}, headers=AUTH)
            assert words in assert_error(response, 400, "callback_url")["message"]


@pytest.mark.parametrize(
    "host,expected",
    [
        ("2130706433", AddressClass.LOOPBACK),
        ("0x0a000001", AddressClass.PRIVATE),
        ("10.1", AddressClass.PRIVATE),
        ("::ffff:192.168.0.1", AddressClass.PRIVATE),
        ("8.8.8.8", AddressClass.PUBLIC),
        ("fe80::1%eth0", AddressClass.LINK_LOCAL),
        ("::127.0.0.1", AddressClass.LOOPBACK),
        ("::10.0.0.1", AddressClass.PRIVATE),
        ("::1", AddressClass.LOOPBACK),
        ("::", AddressClass.UNSPECIFIED),
        ("::ffff:0:a00:1", AddressClass.PRIVATE),
        ("64:ff9b:1::7f00:1", AddressClass.LOOPBACK),
        ("fec0::1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.RESERVED),
        ("2002:a9fe:a9fe::", AddressClass.LINK_LOCAL),
    ],
)
def test_address_encodings_are_classified(host: str, expected: AddressClass) -> None:
    ip = literal_ip(host)
    assert ip is not None
    assert classify(ip) is expected


@pytest.mark.parametrize("host", ["example.com", "1.2.3.example", "abc", "0x"])
def test_names_are_not_mistaken_for_addresses(host: str) -> None:
    assert literal_ip(host) is None
