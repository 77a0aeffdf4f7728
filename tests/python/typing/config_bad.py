# Config mistakes: mypy --strict reports each marked line, naming what is marked
# (tests/python/test_config_types.py; never run).
import polyfuse

a: polyfuse.ConfigDocument = {"polcy": {}}  # error: "polcy"
b: polyfuse.ConfigDocument = {"routes": {"chat": {"targetz": ["mock/echo"]}}}  # error: "targetz"
c: polyfuse.ConfigDocument = {"mock": {"models": {"m": {"fail": {"kind": "boom"}}}}}  # error: "fail" (kind "boom" is not an error kind)
d: polyfuse.ConfigDocument = {"providers": {"x": {"format": "openia"}}}  # error: 'openia'
e: polyfuse.ConfigDocument = {"policy": {"total_timeout_ms": "10s"}}  # error: "total_timeout_ms"
polyfuse.Client({"polcy": {}})  # error: "Client"
