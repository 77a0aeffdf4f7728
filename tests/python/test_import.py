"""What `import polyfuse` loads: the client, the event and usage types and the native module, not
asyncio (a script using SyncClient never needs it), the fusion types, the OpenAI drop-in or the
config's TypedDicts, which load when first used, nor `dataclasses`: the result types become
dataclasses on first use (polyfuse/_record.py) and look like ordinary ones from the start
(issue 12: `import polyfuse` under 30 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ["asyncio", "concurrent.futures", "dataclasses", "polyfuse._fusion_types", "polyfuse._openai", "polyfuse._config"]


def loaded_after(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nimport json; print(json.dumps({{m: m in sys.modules for m in {LAZY!r}}}))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_polyfuse_leaves_asyncio_and_the_optional_parts_unloaded() -> None:
    assert loaded_after("import polyfuse") == dict.fromkeys(LAZY, False)


def test_a_sync_script_never_imports_asyncio() -> None:
    got = loaded_after("import polyfuse\nc = polyfuse.SyncClient()\nr = c.complete('mock/echo', 'hi')\nassert r.text\n"
                       "assert ''.join(e.text for e in c.stream('mock/echo', 'hi') if e.type == 'text_delta')")
    assert got["asyncio"] is False


def test_the_lazy_names_load_on_first_use() -> None:
    got = loaded_after("import polyfuse\npolyfuse.FusionResult, polyfuse.ChatCompletion, polyfuse.ConfigDocument")
    assert got["polyfuse._fusion_types"] and got["polyfuse._openai"] and got["polyfuse._config"]
    import polyfuse

    assert {"FusionResult", "ChatCompletion", "ConfigDocument", "Client"} <= set(dir(polyfuse))
    assert polyfuse.FusionResult.__module__ == "polyfuse._fusion_types"


def test_result_types_are_ordinary_frozen_dataclasses_before_and_after_first_use() -> None:
    code = """
import dataclasses, pickle, polyfuse
assert dataclasses.is_dataclass(polyfuse.Usage)  # before any instance
assert [f.name for f in dataclasses.fields(polyfuse.TextDelta)] == ["text", "type"]
assert polyfuse.ToolCallDelta.__match_args__[:2] == ("index", "arguments")
match polyfuse.TextDelta("hi"):
    case polyfuse.TextDelta(text):
        assert text == "hi"
u = polyfuse.Usage(input_tokens=3)
assert dataclasses.asdict(u)["input_tokens"] == 3 and dataclasses.replace(u, output_tokens=2).output_tokens == 2
try:
    u.input_tokens = 4
    raise AssertionError("mutable")
except dataclasses.FrozenInstanceError:
    pass
assert pickle.loads(pickle.dumps(u)) == u and hash(u) == hash(polyfuse.Usage(input_tokens=3))
assert repr(polyfuse.VoteCount("a", 2, 0.5, ["A"])).startswith("VoteCount(")
assert polyfuse.SwapCheck(consistent=True).scores == {}
"""
    got = loaded_after(code)
    assert got["dataclasses"] is True
