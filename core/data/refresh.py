#!/usr/bin/env python3
"""Refreshes core/data/models.json (polyfuse's model catalogue) from LiteLLM's price list.

LiteLLM ships `litellm/model_prices_and_context_window_backup.json` in its wheel. This script
downloads that wheel from PyPI (`pip download litellm --no-deps`), or reads a wheel you name with
`--wheel`, converts the chat models of the providers polyfuse knows into polyfuse's own format
(USD per million tokens, `provider/model` keys with polyfuse's provider names) and writes the file
deterministically: sorted keys, one model per line, the same input giving the same bytes.

    python3 core/data/refresh.py                       # latest litellm from PyPI, today's date
    python3 core/data/refresh.py --version 1.110.2     # a given release
    python3 core/data/refresh.py --wheel /tmp/litellm-1.110.2-....whl --date 2026-12-01

What is kept (see README.md): `mode: "chat"` entries of the providers in PROVIDERS, priced per
token with input and output prices above 0, minus audio / image / search / realtime variants.
Batch, flex and priority prices, per-image / per-audio / per-query prices and other special
fields are dropped: polyfuse prices standard chat traffic from token counts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path

PRICE_FILE = "litellm/model_prices_and_context_window_backup.json"
OUT = Path(__file__).resolve().parent / "models.json"

# LiteLLM provider -> (polyfuse provider name, prefix LiteLLM puts on its keys). Keys of a
# prefixed provider without the prefix are skipped: in LiteLLM they are either duplicates of a
# prefixed key (`deepseek-chat` / `deepseek/deepseek-chat`) or not model names at all
# (`together-ai-4.1b-8b`, a size bucket).
PROVIDERS = {
    "openai": ("openai", ""),
    "anthropic": ("anthropic", ""),
    "gemini": ("google", "gemini/"),
    "mistral": ("mistral", "mistral/"),
    "xai": ("xai", "xai/"),
    "deepseek": ("deepseek", "deepseek/"),
    "groq": ("groq", "groq/"),
    "together_ai": ("together", "together_ai/"),
}

# Not chat-completions text models, or priced by something other than tokens.
SKIP_NAME = re.compile(
    r"(^ft:|audio|realtime|tts|transcribe|image|lyria|search|deep-research|computer-use|/container$)"
)

# LiteLLM field -> polyfuse field, per token -> per million tokens.
FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cached_input",
    "cache_creation_input_token_cost": "cache_write",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "output_cost_per_reasoning_token": "reasoning",
}
# Context-length tiers: `<field>_above_<N>k_tokens` (N thousand input tokens). The longer field
# name comes first so `..._above_1hr_above_200k_tokens` is read as the 1-hour write's tier.
TIER = re.compile(
    r"^(" + "|".join(sorted(FIELDS, key=len, reverse=True)) + r")_above_(\d+)k_tokens$"
)


def per_million(value: object, where: str) -> float | None:
    """A LiteLLM per-token price as USD per million tokens (exact decimal scaling)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        print(f"warning: {where}: not a number ({value!r}), dropped", file=sys.stderr)
        return None
    d = Decimal(repr(value)) * 1_000_000
    if not d.is_finite() or d < 0:
        print(f"warning: {where}: {value!r} is not a price, dropped", file=sys.stderr)
        return None
    return float(d.normalize())


def prices(entry: dict, key: str, suffix: str = "") -> dict:
    out = {}
    for litellm_field, ours in FIELDS.items():
        if litellm_field + suffix in entry:
            p = per_million(entry[litellm_field + suffix], f"{key}.{litellm_field}{suffix}")
            if p is not None:
                out[ours] = p
    return out


def tidy(p: dict, base: dict) -> dict:
    """Drops what the defaults already say, and LiteLLM's placeholder zeros."""
    # Reasoning is kept only when priced apart from output (LiteLLM often repeats the output price).
    output = p.get("output", base.get("output"))
    if "reasoning" in p and p["reasoning"] == output:
        del p["reasoning"]
    # A cache write at 0 while input costs something is a placeholder (DeepSeek bills cache
    # misses at the input price): leave it out so the input price applies.
    if p.get("cache_write") == 0 and p.get("input", base.get("input", 0)) > 0:
        del p["cache_write"]
    return p


def convert(raw: dict) -> tuple[dict, dict]:
    models: dict = {}
    skipped: dict = {}

    def skip(why: str, key: str) -> None:
        skipped.setdefault(why, []).append(key)

    for key in sorted(raw):
        entry = raw[key]
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in PROVIDERS:
            continue
        if entry.get("mode") != "chat":
            skip("not a chat model", key)
            continue
        provider, prefix = PROVIDERS[entry["litellm_provider"]]
        if prefix and not key.startswith(prefix):
            skip("unprefixed duplicate or not a model", key)
            continue
        name = key[len(prefix):]
        if (not prefix and "/" in name) or SKIP_NAME.search(name):
            skip("not a text chat model", key)
            continue
        outputs = entry.get("supported_output_modalities")
        if isinstance(outputs, list) and "text" not in outputs:
            skip("no text output", key)
            continue
        base = tidy(prices(entry, key), {})
        if not base.get("input") or not base.get("output"):
            skip("no input or output price above 0", key)
            continue
        info = dict(base)
        tiers: dict[int, dict] = {}
        for field in entry:
            m = TIER.match(field)
            if m:
                tiers.setdefault(int(m.group(2)) * 1000, {})
        for above in sorted(tiers):
            t = tidy(prices(entry, key, f"_above_{above // 1000}k_tokens"), base)
            if t:
                tiers[above] = {"above": above, **t}
        tier_list = [t for _, t in sorted(tiers.items()) if len(t) > 1]
        if tier_list:
            info["tiers"] = tier_list
        for litellm_field, ours in (("max_input_tokens", "context_window"), ("max_output_tokens", "max_output")):
            v = entry.get(litellm_field)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                info[ours] = v
        models[f"{provider}/{name}"] = info
    return models, skipped


def download(version: str | None, into: Path) -> Path:
    spec = f"litellm=={version}" if version else "litellm"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:",
         "--quiet", "-d", str(into)],
        check=True,
    )
    wheels = sorted(into.glob("litellm-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one litellm wheel in {into}, found {[w.name for w in wheels]}")
    return wheels[0]


def write(path: Path, header: dict, models: dict) -> None:
    lines = ["{"]
    for k in sorted(header):
        lines.append(f"  {json.dumps(k)}: {json.dumps(header[k], sort_keys=True)},")
    lines.append('  "models": {')
    keys = sorted(models)
    for i, k in enumerate(keys):
        comma = "," if i + 1 < len(keys) else ""
        lines.append(f"    {json.dumps(k)}: {json.dumps(models[k], sort_keys=True)}{comma}")
    lines.append("  }")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", help="litellm release to download (default: the latest)")
    ap.add_argument("--wheel", type=Path, help="use this litellm wheel instead of downloading one")
    ap.add_argument("--date", help="date to record, YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output file (default: {OUT})")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(args.version, Path(tmp))
        m = re.match(r"litellm-([^-]+)-", wheel.name)
        if not m:
            sys.exit(f"{wheel.name}: not a litellm wheel name")
        with zipfile.ZipFile(wheel) as z:
            price_file = z.read(PRICE_FILE)
    raw = json.loads(price_file)

    models, skipped = convert(raw)
    date = args.date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    dt.date.fromisoformat(date)  # validates
    header = {
        "source": {
            "package": "litellm",
            "version": m.group(1),
            "file": PRICE_FILE,
            "file_sha256": hashlib.sha256(price_file).hexdigest(),
            "url": f"https://pypi.org/project/litellm/{m.group(1)}/",
        },
        "date": date,
        "units": "USD per million tokens",
        "generated_by": "core/data/refresh.py",
    }
    write(args.out, header, models)
    by_provider: dict = {}
    for k in models:
        by_provider[k.split("/")[0]] = by_provider.get(k.split("/")[0], 0) + 1
    print(f"{args.out}: {len(models)} models from litellm {m.group(1)} ({date})")
    print("  " + ", ".join(f"{p}: {n}" for p, n in sorted(by_provider.items())))
    for why, keys in sorted(skipped.items()):
        print(f"  skipped ({why}): {len(keys)}")


if __name__ == "__main__":
    main()
