"""domain/ stays pure: only the standard library, msgspec and pycountry."""

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
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
