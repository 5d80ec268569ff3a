"""domain/ stays pure (only the standard library, msgspec and pycountry), and every
package imports only the layers below it: api → service → store → domain, with the read
side (projections, reporting) and the delivery worker beside the service."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"
ALLOWED = {"msgspec", "pycountry", "domain", "__future__"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_only_stdlib_msgspec_and_pycountry():
    files = sorted(DOMAIN.rglob("*.py"))
    assert files
    offenders = {
        f"{path.name}: {root}"
        for path in files
        for root in _imported_roots(path)
        if root not in ALLOWED and root not in sys.stdlib_module_names
    }
    assert not offenders, f"domain/ imports outside its allowance: {sorted(offenders)}"


def test_the_check_would_catch_a_framework_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import asyncpg\nfrom litestar import get\nimport json\n")
    assert _imported_roots(sneaky) - ALLOWED - set(sys.stdlib_module_names) == {
        "asyncpg",
        "litestar",
    }


LAYERS: dict[str, set[str]] = {
    "domain": set(),
    "entente_verify": set(),
    "store": {"domain", "entente_verify"},
    "migrations": {"store"},
    "service": {"domain", "store"},
    "projections": {"domain", "store"},
    "reporting": {"domain", "store", "projections"},
    "delivery": {"domain", "store"},
    "api": {
        "domain",
        "store",
        "service",
        "projections",
        "reporting",
        "delivery",
        "entente_verify",
    },
}
"""Each package of the service and the packages it may import (besides itself)."""


def _layer_offenders(package: str) -> set[str]:
    others = set(LAYERS) - {package}
    return {
        f"{path.relative_to(ROOT)}: {root}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for root in _imported_roots(path) & others
        if root not in LAYERS[package]
    }


def test_every_package_imports_only_the_layers_below_it():
    offenders = set().union(*(_layer_offenders(package) for package in LAYERS))
    assert not offenders, f"imports against the layers: {sorted(offenders)}"


def test_the_layer_check_would_catch_an_import_upwards(tmp_path, monkeypatch):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "upwards.py").write_text("from service.handling import handle\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _layer_offenders("store") == {"store/upwards.py: service"}
