"""The house rules that a tool can check: ruff clean everywhere, mypy clean on the packages."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed (pip install -e '.[test]')")
    return found


def test_ruff() -> None:
    result = subprocess.run([_tool("ruff"), "check", "callcenter", "dispatch", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run([_tool("mypy"), "callcenter", "dispatch"], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small() -> None:
    """STYLE: when a module passes ~500 lines, it is two modules."""
    big = {p.name: n for p in (ROOT / "callcenter").glob("*.py")
           if (n := len(p.read_text("utf-8").splitlines())) > 500}
    assert not big, big


def test_templates_have_no_inline_styles() -> None:
    """The pages' CSP is style-src 'self': an inline style attribute is refused by the browser
    (the regions page's indentation silently vanished that way)."""
    import re

    found = [f"{p.name}: {m.group(0)}" for p in sorted((ROOT / "web" / "templates").glob("*.html"))
             for m in re.finditer(r"\sstyle\s*=", p.read_text(encoding="utf-8"))]
    assert not found, found
