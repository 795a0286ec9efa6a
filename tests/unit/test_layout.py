"""The layout rules import-linter cannot express (see pyproject's [tool.importlinter])."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# SQLAlchemy's statement builders; only gateway/store/ and the table declarations use them.
STATEMENT_BUILDERS = frozenset(
    {
        "select", "insert", "update", "delete", "text", "func", "and_", "or_", "not_",
        "exists", "case", "literal", "literal_column", "bindparam", "union_all", "tuple_",
        "cast", "type_coerce", "null", "true", "false",
    }
)  # fmt: skip
SQL_MODULES = ("sqlalchemy", "sqlalchemy.sql", "sqlalchemy.sql.expression")
SQL_DIALECTS = ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite")


def builders_imported(path: Path) -> set[str]:
    """The statement builders a module imports, wherever in it the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in SQL_MODULES + SQL_DIALECTS:
            found |= {alias.name for alias in node.names} & STATEMENT_BUILDERS
    return found


def builds_sql(path: Path) -> bool:
    in_store = path.is_relative_to(ROOT / "gateway" / "store")
    declares_tables = path.stem in ("models", "tables")  # server defaults use func/text
    return not in_store and not declares_tables and bool(builders_imported(path))


def test_every_sql_statement_is_built_in_gateway_store() -> None:
    modules = [p for pkg in ("routing", "gateway", "admin_ui") for p in (ROOT / pkg).rglob("*.py")]
    outside = sorted(str(p.relative_to(ROOT)) for p in modules if builds_sql(p))
    assert outside == [], f"SQL built outside gateway/store/: {outside}"


def test_the_check_finds_a_statement_built_outside_the_store(tmp_path: Path) -> None:
    service = tmp_path / "service.py"
    service.write_text("def f():\n    from sqlalchemy import select, Integer\n")
    assert builders_imported(service) == {"select"}
