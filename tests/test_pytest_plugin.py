"""The pytest plugin, as its users meet it: user projects run with ``pytester``, and the Python
API of ``EvolinkFake`` driven directly.

The ``pytester`` runs are in-process: each writes a user's test file into a temporary directory
and runs pytest on it with the plugin loaded from its ``pytest11`` entry point, as an installed
package would have it.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx
import pytest
import trustme

from mock_server.errors import ConfigError, InvalidRequest, TaskNotFound
from mock_server.receiver import CallbackReceiver
from mock_server.tasks import TaskStatus
from mock_server.testing import DEFAULT_CLOCK_START, EvolinkFake, FakeFailure, FakeNotIdle, ServerError

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"
GENERATE = "/v1/images/generations"
USER_RUN = ("-p", "no:cacheprovider", "--strict-markers", "-W", "error")
"""How the user projects run: strict markers (the evolink marker must be registered), warnings
as errors (an unclosed socket or loop fails the run)."""


@pytest.fixture(scope="module", autouse=True)
def _imported_before_the_user_runs() -> None:
    """In-process ``pytester`` runs unload the modules they imported. Extension modules
    (cryptography's, under trustme) break when imported twice, so every lazy import of a whole
    exchange (CA, HTTPS callback, image check, uvicorn's protocols) happens here first."""
    trustme.CA().issue_cert("127.0.0.1")
    with CallbackReceiver() as receiver, EvolinkFake(callback_ca=receiver.ca_path) as fake:
        submit(fake, callback_url=receiver.url)
        fake.run_until_idle()
        fake.check()


def readme_examples() -> str:
    """The Python blocks of the README's "Use it in your tests" section, as one test file."""
    section = README.read_text().split("## Use it in your tests", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README: no python block under 'Use it in your tests'"
    return "\n\n".join(blocks)


def body(fake: EvolinkFake, **fields: object) -> dict[str, object]:
    return {
        "model": "qwen-image-edit",
        "prompt": "Add a party hat",
        "image_urls": [fake.fixtures.url("cat-1024.png")],
        **fields,
    }


def submit(fake: EvolinkFake, headers: dict[str, str] | None = None, **fields: object) -> httpx.Response:
    return httpx.post(fake.url(GENERATE), json=body(fake, **fields), headers=headers or fake.headers)


def poll(fake: EvolinkFake, task_id: str) -> httpx.Response:
    return httpx.get(fake.url(f"/v1/tasks/{task_id}"), headers=fake.headers)


# -- user projects ---------------------------------------------------------------------------------


class TestUserProjects:
    def test_the_readme_examples_pass(self, pytester: pytest.Pytester) -> None:
        # how fast they run is measured by `make bench`, not asserted here
        pytester.makepyfile(test_readme=readme_examples())
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(passed=2)

    def test_the_marker_is_registered_and_sets_options(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import httpx
            import pytest

            BODY = {"model": "qwen-image-edit", "prompt": "p", "image_urls": ["https://x.test/a.png"]}

            pytestmark = pytest.mark.evolink(image_check="off", seed=7)

            @pytest.mark.evolink(credits=1)
            def test_credits_run_out(evolink_fake):
                post = lambda: httpx.post(evolink_fake.url("/v1/images/generations"), json=BODY, headers=evolink_fake.headers)
                assert post().status_code == 200
                assert post().json()["error"]["code"] == "insufficient_quota"
                assert evolink_fake.settings.seed == 7

            @pytest.mark.evolink(seed=8)
            def test_the_closest_marker_wins(evolink_fake):
                assert evolink_fake.settings.seed == 8
                assert evolink_fake.settings.image_check == "off"

            @pytest.mark.evolink(scenarios=[{"name": "nsfw", "match": {"prompt_contains": "nsfw"},
                                             "outcome": {"fail": {"code": "content_policy_violation", "at_progress": 60}}}])
            def test_scenarios_as_data(evolink_fake):
                task = httpx.post(evolink_fake.url("/v1/images/generations"), headers=evolink_fake.headers,
                                  json={**BODY, "prompt": "nsfw cat"}).json()
                evolink_fake.run_until_idle()
                assert evolink_fake.tasks.get(task["id"]).error_code == "content_policy_violation"
                evolink_fake.reset()
                assert [s["name"] for s in evolink_fake.scenarios.registered()] == ["nsfw"]

            def test_the_defaults(evolink_fake):
                settings = evolink_fake.settings
                assert settings.manual_clock and settings.allow_private_urls and settings.callback_ca
                assert evolink_fake.clock.now() == 1767225600.0
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(passed=4)

    def test_options_from_a_conftest_and_the_command_line(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            import pytest

            @pytest.fixture
            def evolink_fake_options():
                return {"credits": 3, "api_key": "sk-mine"}
            """
        )
        pytester.makepyfile(
            """
            def test_options(evolink_fake):
                assert evolink_fake.settings.credits == 3 and evolink_fake.settings.seed == 42
                assert evolink_fake.headers == {"Authorization": "Bearer sk-mine"}
                assert evolink_fake.wait_timeout == 0.5
            """
        )
        result = pytester.runpytest(*USER_RUN, "--evolink-seed", "42", "--evolink-wait-timeout", "0.5")
        result.assert_outcomes(passed=1)

    def test_the_session_fake_is_shared_and_reset_between_tests(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import httpx
            import pytest

            SEEN = []
            BODY = {"model": "qwen-image-edit", "prompt": "p", "image_urls": ["https://x.test/a.png"]}

            @pytest.mark.parametrize("round", [1, 2])
            @pytest.mark.evolink(image_check="off")
            def test_starts_clean(evolink_fake_session, round):
                fake = evolink_fake_session
                SEEN.append(fake.base_url)
                assert fake.tasks.list() == [] and fake.clock.now() == 1767225600.0
                assert fake.scenarios.registered() == []
                fake.scenarios.use("content-policy-violation")
                httpx.post(fake.url("/v1/images/generations"), json=BODY, headers=fake.headers)
                fake.clock.advance(100)
                assert len(set(SEEN)) == 1

            @pytest.mark.evolink(image_check="off", credits=5)
            def test_other_options_get_their_own_fake(evolink_fake_session, make_evolink_fake):
                assert evolink_fake_session.base_url not in SEEN
                assert make_evolink_fake(image_check="off", credits=5) is evolink_fake_session
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(passed=3)

    def test_sync_and_async_tests_share_the_receiver_fixture(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import httpx
            import pytest

            def create(fake, receiver):
                body = {"model": "qwen-image-edit", "prompt": "p", "callback_url": receiver.url,
                        "image_urls": [fake.fixtures.url("valid-512.png")]}
                return httpx.post(fake.url("/v1/images/generations"), json=body, headers=fake.headers).json()["id"]

            def test_sync(evolink_fake, evolink_callback_receiver):
                assert evolink_callback_receiver.url.startswith("https://")
                evolink_callback_receiver.script(500)
                task_id = create(evolink_fake, evolink_callback_receiver)
                evolink_fake.run_until_idle()
                hit = evolink_callback_receiver.wait_for(task_id, status="completed", count=2)
                assert hit.answer == "200"

            @pytest.mark.anyio
            async def test_async(evolink_fake, evolink_callback_receiver):
                task_id = create(evolink_fake, evolink_callback_receiver)
                await evolink_fake.clock.advance_async(120)
                hit = await evolink_callback_receiver.wait_for_async(task_id, status="completed")
                assert hit.json["id"] == task_id
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(passed=2)


class TestFailuresSurface:
    def test_an_error_the_fake_logs_fails_the_test(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import httpx

            def boom(*args):
                raise RuntimeError("boom inside the fake")

            def test_hits_a_bug(evolink_fake):
                evolink_fake.call(lambda service: setattr(service, "get", boom))
                r = httpx.get(evolink_fake.url("/v1/tasks/task-unified-1-abc"), headers=evolink_fake.headers)
                assert r.status_code == 500
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(
            [
                "*ERROR at teardown of test_hits_a_bug*",
                "*FakeFailure: the fake at http://127.0.0.1:* logged *error(s)*",
            ]
        )
        assert "RuntimeError: boom inside the fake" in result.stdout.str()

    def test_a_wrong_option_says_which_exist(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.evolink(colour="blue")
            def test_wrong_name(evolink_fake):
                pass

            @pytest.mark.evolink(image_check="maybe")
            def test_wrong_value(evolink_fake):
                pass

            @pytest.mark.evolink(scenarios=[{"name": "x", "outcome": {"fail": {"code": 12}}}])
            def test_wrong_scenario(evolink_fake):
                pass
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(errors=3)
        result.stdout.fnmatch_lines(
            [
                "*evolink fake: unknown evolink option(s) colour; choose from *seed*",
                "*evolink fake: evolink option image_check='maybe': choose from on, off*",
                "*evolink fake: evolink scenarios: scenarios[[]0[]].outcome.fail.code: 12 is not of type*",
            ]
        )

    def test_a_stuck_task_stops_run_until_idle_with_a_clear_message(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import httpx

            def test_stuck(evolink_fake):
                evolink_fake.scenarios.use("stuck")
                body = {"model": "qwen-image-edit", "prompt": "p", "image_urls": [evolink_fake.fixtures.url("cat-1024.png")]}
                httpx.post(evolink_fake.url("/v1/images/generations"), json=body, headers=evolink_fake.headers)
                evolink_fake.run_until_idle()
            """
        )
        result = pytester.runpytest(*USER_RUN)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*FakeNotIdle: task(s) task-unified-* never end (a stuck scenario)*"])


# -- the Python API, directly ----------------------------------------------------------------------


class TestEvolinkFake:
    def test_starts_and_stops_repeatedly(self) -> None:
        # start-up time is measured by `make bench`, not asserted here
        for _ in range(5):
            with EvolinkFake(image_check="off") as fake:
                assert fake.clock.now() > 0
                assert httpx.get(f"{fake.base_url}/_mock/health").status_code == 200

    def test_work_runs_on_the_fakes_own_thread(self, evolink_fake: EvolinkFake) -> None:
        name = evolink_fake.call(lambda service: threading.current_thread().name)
        assert name.startswith("evolink-fake-") and name != threading.current_thread().name

    def test_task_plan_and_timeline(self, evolink_fake: EvolinkFake) -> None:
        task_id = submit(evolink_fake).json()["id"]
        info = evolink_fake.tasks.get(task_id)
        assert (info.status, info.progress) == (TaskStatus.PENDING, 0)
        assert [(s.status, s.reached) for s in info.timeline] == [
            (TaskStatus.PENDING, True),
            (TaskStatus.PROCESSING, False),
            (TaskStatus.COMPLETED, False),
        ]
        assert evolink_fake.clock.advance(info.plan.ends_at - DEFAULT_CLOCK_START) == info.plan.ends_at
        done = evolink_fake.tasks.get(task_id)
        assert done.status is TaskStatus.COMPLETED
        assert done.detail["results"][0].startswith(evolink_fake.base_url)
        with pytest.raises(TaskNotFound):
            evolink_fake.tasks.get("task-unified-1-nothere")

    def test_use_applies_a_scenario_to_the_next_requests(self, evolink_fake: EvolinkFake) -> None:
        assert evolink_fake.scenarios.use("rate-limited", times=1) == "use-rate-limited"
        limited = submit(evolink_fake)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert submit(evolink_fake).status_code == 200
        evolink_fake.scenarios.use("internal-error", endpoint="get")
        task_id = submit(evolink_fake).json()["id"]
        assert poll(evolink_fake, task_id).status_code == 500
        with pytest.raises(
            InvalidRequest, match="unknown scenario 'nope'; the catalogue has: invalid-request"
        ):
            evolink_fake.scenarios.use("nope")

    def test_the_header_helper_names_a_scenario(self, evolink_fake: EvolinkFake) -> None:
        headers = {**evolink_fake.headers, **evolink_fake.scenarios.header("insufficient-credits")}
        assert submit(evolink_fake, headers).status_code == 402

    def test_run_until_idle_gives_up_at_its_limit(self, evolink_fake: EvolinkFake) -> None:
        evolink_fake.scenarios.use("slow-queue")  # pending for 120 s, then about 30 s of processing
        submit(evolink_fake)
        with pytest.raises(FakeNotIdle, match="not idle after 60 clock seconds: 1 task"):
            evolink_fake.run_until_idle(max_seconds=60)
        assert evolink_fake.run_until_idle() > 60

    def test_a_stuck_task_can_be_left_or_cancelled(self, evolink_fake: EvolinkFake) -> None:
        evolink_fake.scenarios.use("stuck")
        task_id = submit(evolink_fake).json()["id"]
        assert evolink_fake.run_until_idle(ignore_stuck=True) == 0
        evolink_fake.tasks.cancel(task_id)
        evolink_fake.run_until_idle()
        assert evolink_fake.tasks.get(task_id).error_code == "request_cancelled"

    def test_reset_rewinds_everything(self, evolink_fake: EvolinkFake) -> None:
        submit(evolink_fake)
        evolink_fake.scenarios.use("stuck")
        evolink_fake.clock.advance(50)
        evolink_fake.reset()
        assert evolink_fake.tasks.list() == [] and evolink_fake.scenarios.registered() == []
        assert evolink_fake.clock.now() == DEFAULT_CLOCK_START

    def test_clock_set_never_goes_back(self, evolink_fake: EvolinkFake) -> None:
        assert evolink_fake.clock.set(DEFAULT_CLOCK_START + 10) == DEFAULT_CLOCK_START + 10
        with pytest.raises(InvalidRequest, match="cannot move the clock back"):
            evolink_fake.clock.set(DEFAULT_CLOCK_START)

    def test_fixture_urls_name_real_fixtures(self, evolink_fake: EvolinkFake) -> None:
        url = evolink_fake.fixtures.url("too-small-511.png")
        assert url == f"{evolink_fake.base_url}/_mock/fixtures/too-small-511.png"
        assert httpx.get(url).headers["content-type"] == "image/png"
        with pytest.raises(ValueError, match="no fixture named 'dog.png'; choose from cat-1024.png"):
            evolink_fake.fixtures.url("dog.png")

    def test_callback_attempts_and_deliveries(
        self, evolink_fake: EvolinkFake, evolink_callback_receiver: CallbackReceiver
    ) -> None:
        evolink_callback_receiver.set_default(503)
        task_id = submit(evolink_fake, callback_url=evolink_callback_receiver.url).json()["id"]
        evolink_fake.run_until_idle()
        assert [a.status_code for a in evolink_fake.callbacks.attempts(task_id)] == [503] * 4
        (delivery,) = evolink_fake.callbacks.deliveries(task_id)
        assert delivery.outcome.value == "given_up"

    @pytest.mark.evolink(wait_timeout=0.05)
    def test_a_receiver_that_never_answers_is_timed_out_by_the_clock(
        self, evolink_fake: EvolinkFake, evolink_callback_receiver: CallbackReceiver
    ) -> None:
        evolink_callback_receiver.set_default("hang")
        task_id = submit(evolink_fake, callback_url=evolink_callback_receiver.url).json()["id"]
        evolink_fake.run_until_idle()  # each attempt costs wait_timeout of wall time, not 10 s
        attempts = evolink_fake.callbacks.attempts(task_id)
        assert [a.error.value if a.error else None for a in attempts] == ["timeout"] * 4
        assert [a.ended_at - a.sent_at for a in attempts] == [10.0] * 4

    def test_the_transport_serves_sync_and_async_clients(self, evolink_fake: EvolinkFake) -> None:
        with httpx.Client(transport=evolink_fake.transport, base_url=evolink_fake.base_url) as client:
            created = client.post(GENERATE, json=body(evolink_fake), headers=evolink_fake.headers)
        assert created.status_code == 200

        async def read() -> httpx.Response:
            transport, base_url = evolink_fake.transport, evolink_fake.base_url
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                return await client.get(f"/v1/tasks/{created.json()['id']}", headers=evolink_fake.headers)

        assert asyncio.run(read()).json()["status"] == "pending"

    def test_the_transport_breaks_like_a_network(self, evolink_fake: EvolinkFake) -> None:
        evolink_fake.scenarios.use("truncated-body", times=1)
        with httpx.Client(transport=evolink_fake.transport, base_url=evolink_fake.base_url) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                client.post(GENERATE, json=body(evolink_fake), headers=evolink_fake.headers)
            evolink_fake.scenarios.use("slow-response", times=1)  # 2 wall seconds late
            with pytest.raises(httpx.ReadTimeout):
                client.post(GENERATE, json=body(evolink_fake), headers=evolink_fake.headers, timeout=0.05)

    def test_check_raises_what_the_fake_logged(self) -> None:
        with EvolinkFake(image_check="off") as fake:

            def boom(*args: object) -> None:
                raise RuntimeError("boom")

            fake.call(lambda service: setattr(service, "get", boom))
            with httpx.Client(transport=fake.transport, base_url=fake.base_url) as client:
                assert client.get("/v1/tasks/task-unified-1-abc", headers=fake.headers).status_code == 500
        with pytest.raises(FakeFailure, match=r"logged 2 error\(s\)"):  # the app's line and the server's
            fake.check()
        fake.check()  # taken: a second check passes

    def test_a_stopped_fake_says_so(self) -> None:
        fake = EvolinkFake(image_check="off").start()
        fake.stop()
        with pytest.raises(ServerError, match="the fake is not running"):
            fake.clock.now()

    def test_bad_options_fail_before_starting(self) -> None:
        with pytest.raises(ConfigError, match="unknown evolink option"):
            EvolinkFake(sed=1)
        with pytest.raises(ConfigError, match="--scenarios /nonexistent.yaml: cannot read it"):
            EvolinkFake(scenarios="/nonexistent.yaml")
