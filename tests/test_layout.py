"""tui/'s layout: no module imports another module's private name.

The one-way imports between tui/'s packages are import-linter's contracts
(`[tool.importlinter]` in pyproject.toml, run by `make test`); this checks what they
cannot: `from tui.x import _name` (or `x._name` through an imported tui module) ties a
module to another's internals, so a name used across modules is made public.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def private_imports(tree: ast.AST, module: str) -> list[str]:
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and (node.module == "tui" or node.module.startswith("tui.")):
            for a in node.names:
                if a.name.startswith("_") and node.module != module:
                    found.append(f"line {node.lineno}: from {node.module} import {a.name}")
                if node.module == "tui" or not a.name.startswith("_"):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("tui.") and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.attr.startswith("_") and not node.attr.startswith("__") \
                and node.value.id in aliases:
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_private_name_crosses_modules():
    bad = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for what in private_imports(ast.parse(path.read_text(encoding="utf-8")), module):
            bad.append(f"{path.relative_to(ROOT)} {what}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_the_check_finds_one():
    tree = ast.parse("from tui.learn.trainer import _sigmoid\nimport tui.image.render as r\nr._x\n")
    assert len(private_imports(tree, "tui.export.scores")) == 2


def test_features_file_format_agrees_between_featurize_and_tui():
    # tui does not import featurize: the format's names are defined in both, checked here
    import featurize.store as writer
    import tui.store.features as reader

    for name in ("FORMAT", "FORMAT_VERSION", "PENDING", "DONE", "FAILED"):
        assert getattr(writer, name) == getattr(reader, name), name
