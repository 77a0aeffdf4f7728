# A good config document: mypy --strict passes (tests/python/test_config_types.py; never run).
import polyfuse

good: polyfuse.ConfigDocument = {
    "env_providers": False,
    "providers": {"local": {"format": "openai", "base_url": "http://127.0.0.1:11434/v1", "api_key": "none"}},
    "policy": {"max_attempts_per_target": 3, "retry_on": ["rate_limited", "timeout"], "breaker": {"enabled": False}},
    "routes": {"chat": {"targets": ["local/llama3", {"model": "openai/gpt-4o-mini", "weight": 2}], "strategy": "weighted"}},
    "mock": {"models": {"flaky": {"text": "ok", "fail": {"kind": "rate_limited", "times": 1}}}},
    "usage": {"ledger": "usage.db"},
    "pricing": {"models": {"local/llama3": {"input": 0, "output": 0, "tiers": [{"above": 200000, "input": 1}]}}},
    "budgets": [{"limit_usd": 5.0, "window": "1h", "scope": "client"}],
}
client = polyfuse.Client(good)
inline = polyfuse.SyncClient({"policy": {"total_timeout_ms": 30000}})
from_file = polyfuse.Client("polyfuse.toml")
