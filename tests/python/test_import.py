"""What `import polyfuse` loads: the client, the event and usage types and the native module, not
asyncio (a script using SyncClient never needs it), the fusion types, the OpenAI drop-in or the
config's TypedDicts, which load when first used (issue 12: `import polyfuse` under 30 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ["asyncio", "concurrent.futures", "polyfuse._fusion_types", "polyfuse._openai", "polyfuse._config"]


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
