"""docs/api.yaml stays true: every route rampartd serves is documented, with the same method and
path template, and every documented operation is served. The route list comes from
`rampartd routes`, which prints the same table the server dispatches from."""
import pytest
import yaml

from conftest import ROOT, run

METHODS = {"get", "post", "put", "patch", "delete"}


def served():
    out = run("rampartd", "routes", check=True).stdout
    routes = set()
    for line in out.splitlines():
        method, path = line.split(" ", 1)
        routes.add((method, path))
    return routes


def documented():
    spec = yaml.safe_load((ROOT / "docs" / "api.yaml").read_text())
    return {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops if m in METHODS}


def test_route_table_is_not_empty():
    assert len(served()) >= 30


def test_every_served_route_is_documented():
    missing = served() - documented()
    assert not missing, f"served but not in docs/api.yaml: {sorted(missing)}"


def test_every_documented_route_is_served():
    extra = documented() - served()
    assert not extra, f"in docs/api.yaml but not served: {sorted(extra)}"


def test_spec_refs_resolve():
    spec = yaml.safe_load((ROOT / "docs" / "api.yaml").read_text())
    text = (ROOT / "docs" / "api.yaml").read_text()
    import re
    for ref in set(re.findall(r'#/components/(\w+)/(\w+)', text)):
        assert ref[1] in spec["components"][ref[0]], f"unresolved $ref {ref}"


@pytest.mark.parametrize("code", ["invalid", "io", "not-found", "exists", "permission", "verification-failed",
                                  "limit", "unsupported", "crypto", "conflict", "expired", "unavailable",
                                  "internal"])
def test_error_codes_are_documented(code):
    spec = yaml.safe_load((ROOT / "docs" / "api.yaml").read_text())
    assert code in spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
