"""The Python clients the bench compares, each as a set of ops (one function per scenario):
polyfuse (default policy, ``complete_via_stream = false``, a route with an unused fallback),
openai-python, LiteLLM (``acompletion`` and a ``Router`` with an unused fallback) and raw httpx.

Adding a scenario is one op function here (and a line in the harness plan): e.g. ``fuse`` on
the polyfuse contender, next to ``fanout3_judge``, its floor."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import metadata
from typing import Any, Callable, Dict, List, Optional

from common import KEY, MESSAGES, Job, Op, check


class Contender:
    """A client under test: its ops by scenario name, the versions to report, and cleanup."""

    def __init__(self, ops: Dict[str, Op], versions: Dict[str, str], close: Optional[Callable[[], Any]] = None):
        self.ops = ops
        self.versions = versions
        self._close = close

    def op(self, name: str) -> Op:
        if name not in self.ops:
            raise KeyError(f"this client has no op {name!r} (it has {sorted(self.ops)})")
        return self.ops[name]

    async def close(self) -> None:
        if self._close is not None:
            r = self._close()
            if asyncio.iscoroutine(r):
                await r


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"


class _Timing:
    """Collects stream text and the time to its first piece."""

    __slots__ = ("t0", "first", "parts", "job")

    def __init__(self, job: Job) -> None:
        self.t0 = time.perf_counter()
        self.first: Optional[float] = None
        self.parts: List[str] = []
        self.job = job

    def add(self, text: str) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.t0
            if self.job.on_first is not None:
                self.job.on_first()
        self.parts.append(text)

    def done(self) -> Optional[float]:
        check("".join(self.parts), self.job)
        return self.first


# --- polyfuse -------------------------------------------------------------------------------


def _slow_sync(ev: Any) -> None:
    time.sleep(0.1)


async def _slow_async(ev: Any) -> None:
    await asyncio.sleep(0.1)


def _polyfuse(
    base: str, policy: Optional[Dict[str, Any]] = None, route: bool = False, on_usage: Any = None
) -> Contender:
    import polyfuse

    def config(extra: Dict[str, Any]) -> Dict[str, Any]:
        doc: Dict[str, Any] = {
            "env_providers": False,
            "providers": {
                "mockhttp": {"format": "openai", "base_url": base, "api_key": KEY},
                "mockfb": {"format": "openai", "base_url": base, "api_key": KEY},
            },
            **extra,
        }
        if policy:
            doc["policy"] = policy
        return doc

    plain = polyfuse.Client(config({}), on_usage=on_usage)
    routed: Dict[str, Any] = {}  # model -> Client with route "bench" = [model, fallback]

    def target(model: str) -> tuple:
        if not route:
            return plain, "mockhttp/" + model
        client = routed.get(model)
        if client is None:
            targets = ["mockhttp/" + model, "mockfb/" + model + ";key=fallback"]
            client = routed[model] = polyfuse.Client(config({"routes": {"bench": {"targets": targets}}}))
        return client, "route/bench"

    async def complete(job: Job) -> Optional[float]:
        client, model = target(job.model)
        check((await client.complete(model, MESSAGES)).text, job)
        return None

    async def stream(job: Job) -> Optional[float]:
        client, model = target(job.model)
        t = _Timing(job)
        async for ev in client.stream(model, MESSAGES):
            if ev.type == "text_delta":
                t.add(ev.text)
        return t.done()

    async def fanout3_judge(job: Job) -> Optional[float]:
        """The floor of a fusion: 3 members at once, then a judge over their answers."""
        members = job.params["members"]
        answers = await asyncio.gather(*(plain.complete("mockhttp/" + m, MESSAGES) for m in members))
        prompt = "\n".join(a.text for a in answers)
        judged = await plain.complete("mockhttp/" + job.params["judge"], [{"role": "user", "content": prompt}])
        check(judged.text, job)
        return None

    ops: Dict[str, Op] = {"complete": complete}
    if not policy:  # the policy variant only changes how complete() talks to the provider
        ops["stream"] = stream
    if not route and not policy and on_usage is None:
        ops["fanout3_judge"] = fanout3_judge
    def close() -> None:
        for client in (plain, *routed.values()):
            client.close()

    return Contender(ops, {"polyfuse": polyfuse.__version__}, close=close)


# --- openai-python --------------------------------------------------------------------------


def _openai(base: str) -> Contender:
    import openai

    oa = openai.AsyncOpenAI(base_url=base, api_key=KEY, max_retries=0)

    async def complete(job: Job) -> Optional[float]:
        r = await oa.chat.completions.create(model=job.model, messages=MESSAGES)  # type: ignore[arg-type]
        check(r.choices[0].message.content, job)
        return None

    async def stream(job: Job) -> Optional[float]:
        t = _Timing(job)
        s = await oa.chat.completions.create(model=job.model, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        async for chunk in s:
            if chunk.choices and chunk.choices[0].delta.content:
                t.add(chunk.choices[0].delta.content)
        return t.done()

    return Contender({"complete": complete, "stream": stream}, {"openai": openai.__version__}, close=oa.close)


# --- LiteLLM --------------------------------------------------------------------------------


def _litellm_common():  # type: ignore[no-untyped-def]
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


async def _litellm_stream(resp: Any, job: Job, t: _Timing) -> Optional[float]:
    async for chunk in resp:
        if chunk.choices and chunk.choices[0].delta.content:
            t.add(chunk.choices[0].delta.content)
    return t.done()


def _litellm(base: str) -> Contender:
    litellm = _litellm_common()
    kw = {"api_base": base, "api_key": KEY, "num_retries": 0}

    async def complete(job: Job) -> Optional[float]:
        r = await litellm.acompletion(model="openai/" + job.model, messages=MESSAGES, **kw)
        check(r.choices[0].message.content, job)
        return None

    async def stream(job: Job) -> Optional[float]:
        t = _Timing(job)
        resp = await litellm.acompletion(model="openai/" + job.model, messages=MESSAGES, stream=True, **kw)
        return await _litellm_stream(resp, job, t)

    return Contender({"complete": complete, "stream": stream}, {"litellm": _version("litellm")})


def _litellm_router(base: str) -> Contender:
    litellm = _litellm_common()
    routers: Dict[str, Any] = {}

    def router(model: str) -> Any:
        r = routers.get(model)
        if r is None:
            params = {"api_base": base, "api_key": KEY}
            r = routers[model] = litellm.Router(
                model_list=[
                    {"model_name": "bench", "litellm_params": {"model": "openai/" + model, **params}},
                    {"model_name": "bench-fallback", "litellm_params": {"model": "openai/" + model + ";key=fallback", **params}},
                ],
                fallbacks=[{"bench": ["bench-fallback"]}],
                num_retries=0,
            )
        return r

    async def complete(job: Job) -> Optional[float]:
        r = await router(job.model).acompletion(model="bench", messages=MESSAGES)
        check(r.choices[0].message.content, job)
        return None

    async def stream(job: Job) -> Optional[float]:
        t = _Timing(job)
        resp = await router(job.model).acompletion(model="bench", messages=MESSAGES, stream=True)
        return await _litellm_stream(resp, job, t)

    return Contender({"complete": complete, "stream": stream}, {"litellm": _version("litellm")})


# --- raw httpx ------------------------------------------------------------------------------


def _httpx(base: str) -> Contender:
    import httpx

    hc = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000), timeout=60.0
    )
    url = base + "/chat/completions"
    headers = {"authorization": "Bearer " + KEY}

    async def complete(job: Job) -> Optional[float]:
        r = await hc.post(url, json={"model": job.model, "messages": MESSAGES}, headers=headers)
        r.raise_for_status()
        check(r.json()["choices"][0]["message"]["content"], job)
        return None

    async def stream(job: Job) -> Optional[float]:
        t = _Timing(job)
        body = {"model": job.model, "messages": MESSAGES, "stream": True}
        async with hc.stream("POST", url, json=body, headers=headers) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        t.add(choices[0]["delta"]["content"])
        return t.done()

    return Contender({"complete": complete, "stream": stream}, {"httpx": httpx.__version__}, close=hc.aclose)


CLIENTS: Dict[str, Callable[[str], Contender]] = {
    "polyfuse": lambda base: _polyfuse(base),
    "polyfuse-plain": lambda base: _polyfuse(base, policy={"complete_via_stream": False}),
    "polyfuse-route": lambda base: _polyfuse(base, route=True),
    # A usage callback that takes 100 ms (sync: time.sleep, async: asyncio.sleep): calls must not
    # slow down (the callbacks run off the request's path, the sync one on polyfuse's usage thread).
    "polyfuse-slowcb": lambda base: _polyfuse(base, on_usage=_slow_sync),
    "polyfuse-slowcb-async": lambda base: _polyfuse(base, on_usage=_slow_async),
    "openai": _openai,
    "litellm": _litellm,
    "litellm-router": _litellm_router,
    "httpx": _httpx,
}


def make(name: str, base: str) -> Contender:
    if name not in CLIENTS:
        raise SystemExit(f"bench: unknown Python client {name!r} (known: {', '.join(CLIENTS)})")
    return CLIENTS[name](base)
