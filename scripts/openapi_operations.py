"""Print every operation of the OpenAPI document as one sorted line each: method, path,
operation id, its parameters (name:in, sorted) and its response codes. Run on two
commits and diff the output to see what a refactoring changed in the contract.

    .venv/bin/python scripts/openapi_operations.py > after.txt
"""

from __future__ import annotations

from api.app import create_app

METHODS = ("get", "put", "post", "delete", "patch")


def main() -> None:
    """One line per operation, sorted, so two runs diff cleanly."""
    document = create_app("postgresql://unused@127.0.0.1:1/unused").openapi_schema.to_schema()
    lines = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                parameters = sorted(
                    f"{p['name']}:{p['in']}" for p in operation.get("parameters", [])
                )
                codes = ",".join(sorted(operation["responses"]))
                lines.append(
                    f"{method.upper()} {path} {operation.get('operationId')}"
                    f" [{' '.join(parameters)}] -> {codes}"
                )
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main()
