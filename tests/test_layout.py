"""The layout: what import-linter cannot check.

The one-way imports between tui/'s packages are import-linter's contracts
(`[tool.importlinter]` in pyproject.toml, run by `make test`); this checks what they
cannot: `from tui.x import _name` (or `x._name` through an imported tui module) ties a
module to another's internals, so a name used across modules is made public; the
features file's format is defined once (featurize/format.py), the only featurize
module tui imports; and one helper (refs/fail.py) prints a user's mistake and exits 2.
"""

import ast
import os
import subprocess
import sys
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


def _imported_at_top(tree: ast.Module, name: str) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.module == name
               or isinstance(n, ast.Import) and any(a.name == name for a in n.names)
               for n in tree.body)


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


FORMAT_NAMES = ("FORMAT", "FORMAT_VERSION", "PENDING", "DONE", "FAILED", "DATASETS", "OPTIONAL_DATASETS")


def assigned_names(tree: ast.AST) -> set[str]:
    """Names a module binds at its top level by assignment (`X = ...`, `A, B = ...`)."""
    out = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    out.add(n.id)
    return out


def test_the_features_file_format_is_defined_once():
    """In featurize/format.py, for the writer (featurize.store) and the reader
    (tui.store.features) alike; DESIGN.md: defined once, for both."""
    import featurize.format as fmt
    import featurize.store as writer
    import tui.store.features as reader

    where = {}
    for folder in ("featurize", "tui", "refs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "model_file.py":  # the exported model's own FORMAT ("binlabel.model")
                continue
            for name in assigned_names(ast.parse(path.read_text(encoding="utf-8"))) & set(FORMAT_NAMES):
                where.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert where == {name: ["featurize/format.py"] for name in FORMAT_NAMES}, where
    for name in ("FORMAT", "FORMAT_VERSION", "DONE"):
        assert getattr(writer, name) is getattr(fmt, name) is getattr(reader, name), name


def featurize_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "featurize" else [f"featurize.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n == "featurize" or n.startswith("featurize.")]
    return found


# The one tui module that embeds with featurize's model code (`--seed` images, `/` words:
# issue 16), always inside a function, so that starting annotate never imports torch.
EMBEDS_QUERIES = {"tui/seeds.py": {"featurize.query", "featurize.registry"}}


def test_tui_takes_only_the_format_from_featurize():
    """tui reads the file, never featurize's internals: featurize.format, which imports
    nothing, is the one featurize module tui may import, but for the query embedding."""
    bad = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in featurize_imports(tree):
            if name == "featurize.format":
                continue
            if name not in EMBEDS_QUERIES.get(rel, ()):
                bad.append(f"{rel}: {name}")
            elif _imported_at_top(tree, name):
                bad.append(f"{rel}: {name} imported at the top (torch at start-up)")
    assert not bad, bad
    assert featurize_imports(ast.parse("from featurize import store\nimport featurize.run\n")) == \
        ["featurize.store", "featurize.run"]


def test_reading_a_features_file_does_not_import_torch():
    """tui.store.features takes the format from featurize without torch (seconds to import)."""
    code = ("import sys, tui.store.features; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'featurize', 'textual')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['featurize', 'featurize.format']", r.stdout


def stderr_printers(tree: ast.AST) -> list[str]:
    """Functions whose whole body prints to sys.stderr and returns: "print and exit" helpers."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        prints = [n for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                  and getattr(n.value.func, "id", None) == "print"
                  and any(k.arg == "file" and ast.unparse(k.value) == "sys.stderr" for k in n.value.keywords)]
        if prints and len(body) == len(prints) + sum(isinstance(n, ast.Return) for n in body):
            found.append(f"line {node.lineno}: {node.name}")
    return found


def test_one_way_to_fail_with_exit_2():
    """refs.fail.fail is the one helper that prints a user's mistake and gives exit 2:
    no other "print to stderr and return" helper, and no bare `return 2`."""
    bad = []
    for folder in ("refs", "featurize", "tui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if rel != "refs/fail.py":
                bad += [f"{rel} {what}" for what in stderr_printers(tree)]
            bad += [f"{rel} line {n.lineno}: return 2" for n in ast.walk(tree) if isinstance(n, ast.Return)
                    and isinstance(n.value, ast.Constant) and n.value.value == 2]
    assert not bad, bad
    assert stderr_printers(ast.parse("import sys\ndef _err(m):\n    print(m, file=sys.stderr)\n"
                                     "    return 2\n")) == ["line 2: _err"]


def test_fail_prints_one_line_and_gives_2(capsys):
    from refs.fail import EXIT_USAGE, fail

    assert fail("annotate", "x.h5: no such file") == EXIT_USAGE == 2
    assert fail("featurize: error", "stopped", 130) == 130
    out = capsys.readouterr()
    assert out.out == "" and out.err == "annotate: x.h5: no such file\nfeaturize: error: stopped\n"
