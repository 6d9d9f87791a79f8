"""The image check through the public API: where failures surface, the modes, the cache, result
images drawn from the input, /_mock/fixtures, and the README's walk-through on a real server."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat
from starlette.testclient import TestClient

from mock_server import ManualClock, Settings, create_app
from mock_server.cli import banner, build_parser, main, settings_from
from mock_server.config import ImageCheck, ImageErrors
from mock_server.fixtures import catalog, fixture_bytes
from mock_server.urlpolicy import UrlPolicy

from .conftest import AUTH, GENERATE, START, VALID_BODY, advance, assert_error, create, make_client, poll
from .loopback_images import ImageServer
from .test_images_fetch import FAST, PUBLIC_IP, Upstream, public_resolver

INVALID = [name for name, f in catalog().items() if f.expect is not None]
VALID = [name for name, f in catalog().items() if f.expect is None]


def body(*urls: str, prompt: str = "Make the sky purple") -> dict[str, Any]:
    return {"model": "qwen-image-edit", "prompt": prompt, "image_urls": list(urls)}


@pytest.fixture
def checking(clock: ManualClock) -> Iterator[TestClient]:
    """The fake as users run it (images fetched), allowed to reach the loopback image server."""
    with make_client(clock, image_check=ImageCheck.ON, allow_private_urls=True, timings=FAST) as client:
        yield client


def plan_of(api: TestClient, task_id: str) -> dict[str, Any]:
    plan: dict[str, Any] = api.get(f"/_mock/tasks/{task_id}").json()["plan"]
    return plan


def finish(api: TestClient, task_id: str) -> dict[str, Any]:
    api.post("/_mock/clock/set", json={"now": plan_of(api, task_id)["ends_at"]})
    return poll(api, task_id)


@pytest.mark.parametrize("name", INVALID)
def test_a_bad_image_is_accepted_then_fails_the_task_early(
    checking: TestClient, image_server: ImageServer, name: str
) -> None:
    url = image_server.url(f"/fixtures/{name}")
    task = create(checking, body(url))
    assert poll(checking, task["id"])["status"] == "pending"
    plan = plan_of(checking, task["id"])
    low, high = FAST.input_failure_seconds
    assert low <= plan["ends_at"] - plan["starts_at"] <= high
    checking.post("/_mock/clock/set", json={"now": plan["starts_at"]})
    assert (poll(checking, task["id"])["status"], poll(checking, task["id"])["progress"]) == ("processing", 0)
    failed = finish(checking, task["id"])
    fault = catalog()[name].expect
    assert fault is not None
    assert failed["status"] == "failed" and failed["progress"] == 0
    assert failed["error"]["code"] == fault.code
    assert failed["error"]["message"].startswith(f"image_urls[0] {url}: ")


@pytest.mark.parametrize(
    "name,reason",
    [
        ("format.gif", "unsupported format gif (allowed: jpeg, png, webp)"),
        ("too-small-300.png", "is 300x300 px; each side must be 512-4096 px"),
        ("over-10mb.png", "is over 10 MB (Content-Length 10485761)"),
        ("not-an-image.png", "not an image: content not recognised"),
    ],
)
def test_the_message_names_the_url_and_the_reason(
    checking: TestClient, image_server: ImageServer, name: str, reason: str
) -> None:
    ok, bad = image_server.url("/fixtures/cat-1024.png"), image_server.url(f"/fixtures/{name}")
    task = create(checking, body(ok, bad))
    assert finish(checking, task["id"])["error"]["message"].startswith(f"image_urls[1] {bad}: {reason}")


@pytest.mark.parametrize("name", VALID)
def test_a_valid_image_completes(checking: TestClient, image_server: ImageServer, name: str) -> None:
    task = create(checking, body(image_server.url(f"/fixtures/{name}")))
    done = finish(checking, task["id"])
    assert done["status"] == "completed" and done["progress"] == 100


def test_an_unreachable_image_fails_the_task_with_the_reason(
    checking: TestClient, image_server: ImageServer
) -> None:
    url = image_server.url("/hang/headers")
    task = create(checking, body(url))
    error = finish(checking, task["id"])["error"]
    assert error == {
        "code": "image_processing_error",
        "message": f"image_urls[0] {url}: not reachable: timeout (no data for 0.3 s)",
        "type": "task_error",
    }


@pytest.fixture
def submitting(clock: ManualClock) -> Iterator[TestClient]:
    with make_client(
        clock,
        image_check=ImageCheck.ON,
        image_errors=ImageErrors.SUBMIT,
        allow_private_urls=True,
        timings=FAST,
    ) as client:
        yield client


@pytest.mark.parametrize(
    "name,status,code",
    [
        ("format.gif", 400, "invalid_request"),
        ("format.bmp", 400, "invalid_request"),
        ("too-small-511.png", 400, "invalid_request"),
        ("too-big-4097.png", 400, "invalid_request"),
        ("truncated.png", 400, "invalid_request"),
        ("over-10mb.png", 413, "request_too_large"),
    ],
)
def test_submit_mode_answers_400_or_413_and_creates_nothing(
    submitting: TestClient, image_server: ImageServer, name: str, status: int, code: str
) -> None:
    url = image_server.url(f"/fixtures/{name}")
    error = assert_error(submitting.post(GENERATE, json=body(url), headers=AUTH), status, "image_urls", code)
    assert error["message"].startswith(f"image_urls[0] {url}: ")
    assert submitting.get("/_mock/tasks").json()["tasks"] == []


def test_submit_mode_still_accepts_good_images(submitting: TestClient, image_server: ImageServer) -> None:
    create(submitting, body(image_server.url("/fixtures/valid-512.webp")))


def test_image_check_off_fetches_nothing_and_judges_the_extension(
    clock: ManualClock, image_server: ImageServer
) -> None:
    with make_client(clock, allow_private_urls=True) as api:  # tests default to image_check off
        fine = create(api, body(image_server.url("/fixtures/too-small-300.png")))
        gif = create(api, body("https://images.example.com/cat.gif"))
        assert finish(api, fine["id"])["status"] == "completed"
        error = finish(api, gif["id"])["error"]
    assert error["code"] == "image_processing_error" and "extension" in error["message"]
    assert image_server.hits == {}


def test_a_burst_of_submits_with_one_url_fetches_it_once(
    checking: TestClient, image_server: ImageServer
) -> None:
    url = image_server.url("/fixtures/cat-1024.png")
    for _ in range(20):
        create(checking, body(url))
    assert image_server.hits["/fixtures/cat-1024.png"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("lifespan", [True, False], ids=["with-lifespan", "without-lifespan"])
async def test_concurrent_submits_share_one_fetch(image_server: ImageServer, lifespan: bool) -> None:
    settings = Settings(time_scale=0, seed=1, image_check=ImageCheck.ON, allow_private_urls=True)
    app = create_app(settings, clock=ManualClock(START), policy=UrlPolicy(allow_private=True), timings=FAST)
    url = image_server.url("/fixtures/wide-2048x1024.jpg")

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            answers = await asyncio.gather(
                *(client.post(GENERATE, json=body(url), headers=AUTH) for _ in range(30))
            )
        return [a.status_code for a in answers]

    if lifespan:
        async with app.router.lifespan_context(app):
            statuses = await burst()
    else:
        statuses = await burst()
    assert statuses == [200] * 30
    assert image_server.hits["/fixtures/wide-2048x1024.jpg"] == 1


def test_the_cache_expires_on_the_clock_and_reset_clears_it(
    checking: TestClient, image_server: ImageServer
) -> None:
    url = image_server.url("/fixtures/valid-512.png")
    create(checking, body(url))
    advance(checking, FAST.image_cache_ttl - 1)
    create(checking, body(url))
    assert image_server.hits["/fixtures/valid-512.png"] == 1
    advance(checking, 1)
    create(checking, body(url))
    assert image_server.hits["/fixtures/valid-512.png"] == 2
    checking.post("/_mock/reset")
    create(checking, body(url))
    assert image_server.hits["/fixtures/valid-512.png"] == 3


def result_image(api: TestClient, task_id: str) -> Image.Image:
    done = finish(api, task_id)
    response = api.get(done["results"][0])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return image


def test_the_result_is_drawn_from_the_first_input(checking: TestClient, image_server: ImageServer) -> None:
    url = image_server.url("/fixtures/cat-1024.png")
    task = create(checking, body(url, image_server.url("/fixtures/valid-512.jpg")))
    with result_image(checking, task["id"]) as result:
        assert result.size == (1024, 1024)
        rgb = result.convert("RGB")
        grass, sky = rgb.getpixel((980, 800)), rgb.getpixel((980, 500))  # the cat's meadow and sky
        assert isinstance(grass, tuple) and isinstance(sky, tuple)
        assert grass[1] > max(grass[0], grass[2]), grass  # green and blue whatever the tint (<= 15%)
        assert sky[2] > sky[0], sky
        with Image.open(io.BytesIO(fixture_bytes(catalog()["cat-1024.png"]))) as original:
            cat = original.convert("RGB")
        lower = (0, 300, 1024, 1024)  # below the stamp
        difference = ImageStat.Stat(ImageChops.difference(rgb.crop(lower), cat.crop(lower))).mean
        # the cat, tinted (by at most 15% of 255); an unrelated picture differs far more
        assert max(difference) < 45, difference


def test_the_result_follows_the_inputs_aspect(checking: TestClient, image_server: ImageServer) -> None:
    task = create(checking, body(image_server.url("/fixtures/wide-2048x1024.jpg")))
    with result_image(checking, task["id"]) as result:
        assert result.size == (1456, 720)


def test_without_an_input_at_hand_the_result_is_drawn_from_the_task(clock: ManualClock) -> None:
    with make_client(clock) as api:  # image check off: nothing fetched, a 1024 px gradient
        task = create(api, VALID_BODY)
        with result_image(api, task["id"]) as result:
            assert result.size == (1024, 1024)


def test_an_input_gone_by_download_time_still_gives_a_result(
    checking: TestClient, image_server: ImageServer
) -> None:
    url = image_server.put("short-lived.png", fixture_bytes(catalog()["cat-1024.png"]))
    task = create(checking, body(url))
    image_server.files.clear()
    advance(checking, FAST.image_cache_ttl + 1)  # forgotten, and gone when fetched again
    with result_image(checking, task["id"]) as result:
        assert result.size == (1024, 1024)
    assert image_server.hits["/files/short-lived.png"] == 2


def test_the_strict_policy_with_a_public_host_behind_a_mock_transport(clock: ManualClock) -> None:
    upstream = Upstream({"/cat.png": httpx.Response(200, content=fixture_bytes(catalog()["cat-1024.png"]))})
    with make_client(
        clock,
        image_check=ImageCheck.ON,
        resolver=public_resolver,
        timings=FAST,
        image_transport=httpx.MockTransport(upstream),
    ) as api:
        task = create(api, body("https://images.example.com/cat.png"))
        with result_image(api, task["id"]) as result:
            assert result.size == (1024, 1024)
        private = create(api, body("http://internal.example.com/cat.png"))
        assert finish(api, private["id"])["error"]["code"] == "image_processing_error"
    assert [r.url.host for r in upstream.seen] == [PUBLIC_IP]


def test_fixtures_are_listed_and_served(api: TestClient) -> None:
    listing = api.get("/_mock/fixtures").json()["fixtures"]
    assert [f["name"] for f in listing] == list(catalog())
    cat = next(f for f in listing if f["name"] == "cat-1024.png")
    assert cat["url"] == "http://testserver/_mock/fixtures/cat-1024.png" and cat["expect"] == "valid"
    for name in ("cat-1024.png", "format.gif", "over-10mb.png"):
        response = api.get(f"/_mock/fixtures/{name}")
        assert response.status_code == 200 and response.content == fixture_bytes(catalog()[name])
        assert response.headers["content-type"] == catalog()[name].media_type


@pytest.mark.parametrize("path", ["nope.png", "..%2Fpyproject.toml", "../pyproject.toml", "%2e%2e/README.md"])
def test_only_catalog_names_are_served(api: TestClient, path: str) -> None:
    response = api.get(f"/_mock/fixtures/{path}")
    assert response.status_code == 404
    assert b"[build-system]" not in response.content and b"evolink-mock" not in response.content


def test_the_banner_names_the_image_switches() -> None:
    lines = banner(Settings(image_check=ImageCheck.OFF, image_errors=ImageErrors.SUBMIT), "http://h:1")
    assert any(line.startswith("RELAXED image-check=off") for line in lines)
    assert any(line.startswith("image-errors=submit") for line in lines)
    assert not any("image" in line for line in banner(Settings(), "http://h:1"))


def test_the_image_options_come_from_the_command_line_and_the_environment() -> None:
    parser = build_parser({"EVOLINK_MOCK_IMAGE_ERRORS": "submit"})
    settings = settings_from(parser.parse_args(["serve", "--image-check", "off"]))
    assert (settings.image_check, settings.image_errors) == (ImageCheck.OFF, ImageErrors.SUBMIT)
    defaults = settings_from(build_parser({}).parse_args(["serve"]))
    assert (defaults.image_check, defaults.image_errors) == (ImageCheck.ON, ImageErrors.TASK)
    assert main(["serve", "--image-check", "maybe"]) == 2


def test_the_readme_walkthrough_on_a_real_server() -> None:
    """`serve --allow-private-urls`, then send the fake's own cat fixture: a working task whose
    result is drawn from the cat (the fake fetches from itself over loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOLINK_MOCK_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_server",
            "serve",
            "--port",
            "0",
            "--time-scale",
            "0",
            "--seed",
            "7",
            "--allow-private-urls",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", process.stderr.readline())
        assert match
        base = match.group(1)
        with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
            for _ in range(500):
                try:
                    client.get("/_mock/health")
                    break
                except httpx.TransportError:
                    continue
            cat = f"{base}/_mock/fixtures/cat-1024.png"
            task = client.post(GENERATE, json=body(cat), headers=AUTH).json()
            client.post("/_mock/clock/advance", json={"seconds": 60})
            done = client.get(f"/v1/tasks/{task['id']}", headers=AUTH).json()
            assert done["status"] == "completed", done
            with Image.open(io.BytesIO(client.get(done["results"][0]).content)) as result:
                grass = result.convert("RGB").getpixel((980, 800))
            assert isinstance(grass, tuple) and grass[1] > max(grass[0], grass[2]), grass  # green, any tint
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
