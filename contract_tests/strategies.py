"""Request bodies from the request schema: valid ones, and invalid ones that break exactly one rule.

The generator walks ``schemas/qwen-image-edit.request.json`` keyword by keyword, so a constraint
added to the schema (a ``maxLength``, an ``enum``, a ``required`` field...) yields its invalid case
and its valid edge without a change here. Each invalid body is checked against the schema with
python-jsonschema before it is sent: it must break the intended keyword of the intended field and
nothing outside that field, else the case is a bug of this kit, not of the target.

URL-valued fields need URLs the target can use: ``UrlSources`` maps a field to them (the target's
image fixtures; a callback receiver when there is one). A field without a source is left out of
valid bodies when optional.

Rules the schema cannot state (callbacks to internal hosts are forbidden: primary docs page) are
listed in ``DOCUMENTED_RULES`` beside the walker.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from .drift import Severity
from .schemas import REQUEST, Schema, load, validator_for

Body = dict[str, Any]
MISSING = object()

PUBLIC_CALLBACK = "https://93.184.215.14/evolink-contract-tests/hook"
"""A public host for callback URLs that must be refused anyway (example.com's address: never a
name, so the target's DNS is never asked). Bodies carrying it are rejected, and fakes are reset
after each test, so nothing is ever delivered there."""


class KitError(Exception):
    """The generator built a case that does not break exactly the intended rule: a bug here."""


@dataclass(frozen=True)
class UrlSources:
    """URLs a target accepts for URL-valued fields, by field name (``image_urls`` for its items)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.by_field.get(name, [])


def request_schema() -> Schema:
    return load(REQUEST)


# -- valid bodies --------------------------------------------------------------------------------


def _strings(sub: Schema) -> st.SearchStrategy[str]:
    if "enum" in sub:
        return st.sampled_from(sub["enum"])
    if "const" in sub:
        return st.just(sub["const"])
    low, high = sub.get("minLength", 0), sub.get("maxLength", 200)
    alphabet = st.characters(exclude_categories=("Cs", "Cc"))
    # Mostly short text, sometimes near the limit: both are valid and both matter.
    return st.one_of(
        st.text(alphabet, min_size=low, max_size=min(high, max(low, 40))),
        st.text(alphabet, min_size=max(low, high - 3), max_size=high),
    )


def _value(name: str, sub: Schema, urls: UrlSources) -> st.SearchStrategy[Any] | None:
    kind = sub.get("type")
    if kind == "string":
        if sub.get("format") == "uri":
            pool = urls.get(name)
            return st.sampled_from(pool) if pool else None
        return _strings(sub)
    if kind == "array":
        items = _value(name, sub.get("items", {}), urls)
        if items is None:
            return None
        return st.lists(items, min_size=sub.get("minItems", 0), max_size=sub.get("maxItems", 5))
    if kind == "integer":
        return st.integers(sub.get("minimum"), sub.get("maximum"))
    if kind == "boolean":
        return st.booleans()
    return None


def valid_bodies(urls: UrlSources, schema: Schema | None = None) -> st.SearchStrategy[Body]:
    """Bodies the schema accepts: every required field, optional fields where a value exists."""
    schema = schema or request_schema()
    required = set(schema.get("required", []))
    fields: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, sub in schema["properties"].items():
        value = _value(name, sub, urls)
        if value is None:
            if name in required:
                raise KitError(f"no value source for required field {name}")
            continue
        (fields if name in required else optional)[name] = value
    return st.fixed_dictionaries(fields, optional=optional)


def minimal_body(urls: UrlSources, schema: Schema | None = None) -> Body:
    """The smallest valid body: required fields only, each at its simplest valid value."""
    schema = schema or request_schema()
    body: Body = {}
    for name in schema.get("required", []):
        body[name] = _simplest(name, schema["properties"][name], urls)
    return body


def _simplest(name: str, sub: Schema, urls: UrlSources) -> Any:
    if "default" in sub:
        return sub["default"]
    if "enum" in sub:
        return sub["enum"][0]
    kind = sub.get("type")
    if kind == "string":
        if sub.get("format") == "uri":
            pool = urls.get(name)
            return pool[0] if pool else PUBLIC_CALLBACK
        return "Replace the background with a beach at sunset"[: sub.get("maxLength", 100)]
    if kind == "array":
        return [_simplest(name, sub.get("items", {}), urls) for _ in range(max(1, sub.get("minItems", 1)))]
    if kind == "integer":
        return sub.get("minimum", 0)
    return None


# -- one broken rule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One way to break one rule of one field: the 4xx must name ``param``."""

    name: str
    param: str
    keyword: str
    boundary: Callable[[Body], Body]
    """The case at the edge (one past the limit), deterministic."""
    variants: Callable[[Body], st.SearchStrategy[Body]]
    """Other values breaking the same rule."""
    severity: Severity = Severity.CRITICAL
    relaxable: bool = False
    """Only on targets that enforce the strict URL rule (not relaxed for local development)."""
    disputed: str | None = None
    """The documents disagree about this rule: the outcome is recorded as a variant."""


def _set(body: Body, name: str, value: Any) -> Body:
    out = copy.deepcopy(body)
    if value is MISSING:
        out.pop(name, None)
    else:
        out[name] = value
    return out


def _without(name: str, body: Body) -> Body:
    return _set(body, name, MISSING)


def _just_without(name: str, body: Body) -> st.SearchStrategy[Body]:
    return st.just(_without(name, body))


def _seed(name: str, sub: Schema, body: Body, urls: UrlSources) -> Any:
    """A valid value of the field to derive edge values from: the body's own, else the simplest."""
    return copy.deepcopy(body[name]) if name in body else _simplest(name, sub, urls)


def _resize(text: str, length: int) -> str:
    """``text`` cut or padded to ``length`` characters; padding keeps URLs URLs (path characters)."""
    return text[:length] if len(text) >= length else text + "a" * (length - len(text))


_WRONG_TYPE_VALUES: dict[str, list[Any]] = {
    "string": ["text", ""],
    "integer": [7, -1],
    "number": [1.5],
    "boolean": [True, False],
    "null": [None],
    "array": [["text"], []],
    "object": [{"value": "text"}, {}],
}


def _wrong_types(sub: Schema) -> list[Any]:
    allowed = sub.get("type")
    allowed_set = set(allowed if isinstance(allowed, list) else [allowed])
    if "number" in allowed_set:
        allowed_set.add("integer")
    return [v for kind, values in _WRONG_TYPE_VALUES.items() if kind not in allowed_set for v in values]


_SCHEMES = ["http", "ftp", "ws", "file", "javascript"]
_PROBES = ["<", ">", " ", "/", "\n", "\x00", "é", "0", "-", "x", "X", "_", ".", '"', "\\"]


def _breaking(pattern: str, seed: str) -> list[str]:
    """Values near ``seed`` that do not match ``pattern``: another URL scheme for URLs, else one
    character added in front, behind or instead of the value (an ECMA pattern is unanchored)."""
    rule = re.compile(pattern)
    candidates = [s + seed[seed.index(":") :] for s in _SCHEMES] if ":" in seed else []
    candidates += [c + seed for c in _PROBES] + [seed + c for c in _PROBES] + [c * 2 for c in _PROBES]
    return [c for c in candidates if not rule.search(c)] or ["x" + seed]


_BAD_URIS = ["https://exa mple.com/a.png", "https://[::1/a.png", "https://example.com/%zz", "not a url"]


def _field_cases(
    name: str, sub: Schema, urls: UrlSources, wrap: Callable[[Any, Body], Any] | None = None
) -> list[Violation]:
    """Violations of the keywords of one field (``wrap`` places an item value into its array)."""
    label = name if wrap is None else f"{name}[]"
    cases: list[Violation] = []

    def case(keyword: str, make: Callable[[Any], list[Any]], **extra: Any) -> None:
        def values(body: Body) -> list[Any]:
            seed = _seed(name, sub, body, urls) if wrap is None else _seed(name, sub, {}, urls)
            return make(seed)

        def place(body: Body, value: Any) -> Body:
            return _set(body, name, value if wrap is None else wrap(value, body))

        cases.append(
            Violation(
                name=f"{label}.{keyword}",
                param=name,
                keyword=keyword,
                boundary=lambda body: place(body, values(body)[0]),
                variants=lambda body: st.sampled_from(values(body)).map(lambda v: place(body, v)),
                **extra,
            )
        )

    if "type" in sub:
        case("type", lambda seed: _wrong_types(sub))
    if "enum" in sub:
        case("enum", lambda seed: [f"{sub['enum'][0]}-x", sub["enum"][0].upper(), "", "gpt-image-1"])
    if "const" in sub:
        case("const", lambda seed: [f"{sub['const']}-x"])
    if sub.get("minLength", 0) > 0:
        case("minLength", lambda seed: [_resize(seed, sub["minLength"] - 1)])
    if "maxLength" in sub:
        limit = sub["maxLength"]
        case("maxLength", lambda seed: [_resize(seed, limit + n) for n in (1, 2, 17, limit)])
    if "pattern" in sub:
        case("pattern", lambda seed: _breaking(sub["pattern"], seed))
    if sub.get("format") == "uri":
        case("format", lambda seed: list(_BAD_URIS))
    if "minimum" in sub:
        case("minimum", lambda seed: [sub["minimum"] - 1, sub["minimum"] - 1000])
    if "maximum" in sub:
        case("maximum", lambda seed: [sub["maximum"] + 1, sub["maximum"] * 2 + 1000])
    if sub.get("type") == "array":
        low, high = sub.get("minItems", 0), sub.get("maxItems")
        if low > 0:
            case("minItems", lambda seed: [seed[: low - 1]])
        if high is not None:
            case("maxItems", lambda seed: [(seed * (high + n))[: high + n] for n in (1, 2, 5)])
        items = sub.get("items")
        if isinstance(items, dict) and wrap is None:

            def put_item(value: Any, body: Body) -> list[Any]:
                seed = _seed(name, sub, body, urls)
                return [value, *seed[1:]]

            cases += _field_cases(name, items, urls, wrap=put_item)
    return cases


def violations(urls: UrlSources, schema: Schema | None = None) -> list[Violation]:
    """Every single-rule violation the schema implies, plus the documented rules it cannot state."""
    schema = schema or request_schema()
    cases: list[Violation] = []
    for name in schema.get("required", []):
        cases.append(
            Violation(
                name=f"{name}.required",
                param=name,
                keyword="required",
                boundary=functools.partial(_without, name),
                variants=functools.partial(_just_without, name),
                disputed=DISPUTED.get(f"{name}.required"),
            )
        )
    for name, sub in schema["properties"].items():
        cases += _field_cases(name, sub, urls)
    if schema.get("additionalProperties") is False:
        cases.append(
            Violation(
                "unknown-field.additionalProperties",
                "size",
                "additionalProperties",
                boundary=lambda body: {**body, "size": "1024x1024"},
                variants=lambda body: st.just({**body, "size": "1024x1024"}),
            )
        )
    cases += [rule(urls) for rule in DOCUMENTED_RULES]
    return [_checked(c, urls, schema) for c in cases]


DISPUTED: dict[str, str] = {
    "image_urls.required": "the primary page marks image_urls required, its example request omits it",
    "prompt.maxLength": "'2000 tokens' and maxLength 2000 on the primary page; one English rendering says 1000",
}
"""Rules the documents disagree on (API_NOTES, Where docs disagree): outcomes are variants."""


INTERNAL_HOSTS: list[tuple[str, bool]] = [
    ("https://127.0.0.1/evolink-contract-tests/hook", True),
    ("https://10.20.30.40/hook", True),
    ("https://172.16.5.4/hook", True),
    ("https://192.168.1.20/hook", True),
    ("https://[::1]/hook", True),
    ("https://2130706433/hook", True),
    ("https://169.254.169.254/latest/meta-data/", False),
    ("https://[fe80::1]/hook", False),
]
"""Internal callback hosts (primary page: no 127.0.0.1, 10.x, 172.16-31.x, 192.168.x, etc.);
``True`` marks those a fake relaxed for local development (loopback/private) may accept."""


def internal_host(urls: UrlSources) -> Violation:
    hosts = [u for u, _ in INTERNAL_HOSTS]
    return Violation(
        name="callback_url.internal-host",
        param="callback_url",
        keyword="internal-host",
        boundary=lambda body: _set(body, "callback_url", hosts[0]),
        variants=lambda body: st.sampled_from(hosts).map(lambda u: _set(body, "callback_url", u)),
        severity=Severity.WARNING,
        relaxable=True,
    )


def internal_host_unrelaxable(urls: UrlSources) -> Violation:
    hosts = [u for u, relaxable in INTERNAL_HOSTS if not relaxable]
    return Violation(
        name="callback_url.internal-host-always",
        param="callback_url",
        keyword="internal-host",
        boundary=lambda body: _set(body, "callback_url", hosts[0]),
        variants=lambda body: st.sampled_from(hosts).map(lambda u: _set(body, "callback_url", u)),
        severity=Severity.WARNING,
    )


DOCUMENTED_RULES: list[Callable[[UrlSources], Violation]] = [internal_host, internal_host_unrelaxable]
"""Documented rules beyond JSON Schema. Rejecting them at submit (rather than skipping the
callback) is inferred (API_NOTES section 7), so a mismatch is a warning."""


def check_one_rule(case: Violation, body: Body, schema: Schema | None = None) -> bool:
    """Whether ``body`` breaks ``case``'s rule and nothing outside its field."""
    schema = schema or request_schema()
    errors = list(validator_for(schema).iter_errors(body))
    if case.keyword == "internal-host":
        return not errors
    if case.keyword == "required":
        return [e.validator for e in errors] == ["required"] and f"'{case.param}'" in errors[0].message
    if case.keyword == "additionalProperties":
        return [e.validator for e in errors] == ["additionalProperties"]
    fields = {e.absolute_path[0] if e.absolute_path else None for e in errors}
    broken = {str(e.validator) for e in errors}
    implied = {"enum", "const"} if case.keyword == "type" else set()
    return fields == {case.param} and case.keyword in broken and broken - {case.keyword} <= implied


def _checked(case: Violation, urls: UrlSources, schema: Schema) -> Violation:
    base = minimal_body(urls, schema)
    if not check_one_rule(case, case.boundary(base), schema):
        raise KitError(f"{case.name}: the boundary body does not break exactly that rule")
    return case


# -- valid edges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """A valid body at a limit (the longest prompt, the most images): must be accepted."""

    name: str
    body: Callable[[Body], Body]
    disputed: str | None = None


def _at_length(name: str, sub: Schema, length: int, urls: UrlSources, body: Body) -> Body:
    return _set(body, name, _resize(_seed(name, sub, body, urls), length))


def _with_items(name: str, sub: Schema, count: int, urls: UrlSources, body: Body) -> Body:
    return _set(body, name, (_seed(name, sub, body, urls) * count)[:count])


def edges(urls: UrlSources, schema: Schema | None = None) -> list[Edge]:
    schema = schema or request_schema()
    out: list[Edge] = []
    for name, sub in schema["properties"].items():
        if sub.get("type") == "string" and not (sub.get("format") == "uri" and not urls.get(name)):
            for keyword in ("minLength", "maxLength"):
                if sub.get(keyword, 0) > 0:
                    out.append(
                        Edge(
                            f"{name}.{keyword}",
                            functools.partial(_at_length, name, sub, sub[keyword], urls),
                            DISPUTED.get(f"{name}.{keyword}"),
                        )
                    )
        if sub.get("type") == "array" and "maxItems" in sub and _value(name, sub, urls) is not None:
            out.append(
                Edge(
                    f"{name}.maxItems",
                    functools.partial(_with_items, name, sub, sub["maxItems"], urls),
                )
            )
    for edge in out:
        if list(validator_for(schema).iter_errors(edge.body(minimal_body(urls, schema)))):
            raise KitError(f"{edge.name}: the edge body is not valid")
    return out
