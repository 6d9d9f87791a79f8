"""An httpx transport that calls only addresses the URL policy allows, with no DNS-rebinding gap.

Each request's host is resolved once, every address is checked against ``UrlPolicy``, and the
connection goes to the checked address itself (the ``Host`` header and the TLS server name stay
those of the URL). Redirects followed by the client pass through here again, hop by hop.
"""

from __future__ import annotations

import httpx

from .urlpolicy import AddressClass, IPAddress, UrlPolicy, UrlRefused, classify, classify_name, literal_ip

_LOOPBACK_BY_NAME = "127.0.0.1"


class PolicyTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: UrlPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def pinned_address(self, url: httpx.URL) -> str:
        """The checked address to connect to for ``url``; raises UrlRefused."""
        host = url.host
        if not host:
            raise UrlRefused("has no host")
        bare = host.rstrip(".")  # "127.0.0.1." and "localhost." name what they name without the dot
        ip: IPAddress | None = literal_ip(bare)
        if ip is not None:
            self.policy.check_address(host, classify(ip))
            return str(ip)
        if classify_name(bare) is AddressClass.LOOPBACK:
            self.policy.check_address(host, AddressClass.LOOPBACK)
            return _LOOPBACK_BY_NAME
        try:
            addresses = await self.policy.resolver(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise UrlRefused(f"host {host} does not resolve ({exc})") from None
        if not addresses:
            raise UrlRefused(f"host {host} does not resolve")
        for address in addresses:
            literal = literal_ip(address)
            if literal is None:
                raise UrlRefused(f"host {host} resolved to {address!r}, not an address")
            self.policy.check_address(f"{host} ({address})", classify(literal))
        return addresses[0].split("%", 1)[0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = await self.pinned_address(request.url)
        original_host = request.url.host
        if address != original_host:
            request.url = request.url.copy_with(host=address)
            if request.url.scheme == "https" and literal_ip(original_host) is None:
                request.extensions = {**request.extensions, "sni_hostname": original_host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
