"""Every scatnet command starts on every platform: no POSIX-only (or Windows-only) module is imported at a
module's top level, where merely importing scatnet would fail; such imports sit in the function that needs them,
behind a platform check."""

from __future__ import annotations

import ast
from pathlib import Path

import scatnet

PLATFORM_ONLY = {"fcntl", "pwd", "grp", "termios", "resource", "msvcrt", "winreg", "posix"}


def _top_level_imports(tree: ast.Module):
    for node in tree.body:  # module level only (also inside a top-level try or if)
        nodes = [node] + [n for n in ast.walk(node) if isinstance(node, (ast.Try, ast.If))]
        for n in nodes:
            if isinstance(n, ast.Import):
                yield from (alias.name.split(".")[0] for alias in n.names)
            elif isinstance(n, ast.ImportFrom) and n.module:
                yield n.module.split(".")[0]


def test_no_platform_only_module_is_imported_at_the_top_of_any_module():
    root = Path(scatnet.__file__).parent
    found = {
        str(p.relative_to(root)): sorted(set(_top_level_imports(ast.parse(p.read_text()))) & PLATFORM_ONLY)
        for p in root.rglob("*.py")
    }
    assert {k: v for k, v in found.items() if v} == {}
    assert len(found) > 50  # the whole package was read


def test_the_run_lock_is_exclusive_and_probed_without_taking_it(tmp_path):
    from scatnet.training.lock import RunLock

    first, second = RunLock(tmp_path), RunLock(tmp_path)
    assert not first.is_held() and first.acquire()
    assert first.is_held() and not second.acquire()  # a probe sees it; a second owner is refused
    assert "pid" in second.holder()
    first.release()
    assert not second.is_held() and second.acquire()
    second.release()
