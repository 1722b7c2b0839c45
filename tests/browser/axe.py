"""axe-core in the browser tests: the npm package, injected into a page, run, and its serious and
critical violations turned into a failing assertion that names each rule and element.

Installed by .ci/run (`npm install --prefix .axe axe-core@^4.10`), or here on first use when npm is
on the machine. Without it the accessibility checks skip with the reason, except under CI=true,
where they fail: CI must never pass silently without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_DIR = ROOT / ".axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_SPEC = "axe-core@^4.10"
NPM_TIMEOUT_S = 180
BLOCKING = ("serious", "critical")
# Off by default in axe 4 (experimental), on here: a visible label the accessible name does not
# contain ("Pinned · unpin" named "Unpin …") leaves voice-control users unable to say the button.
EXTRA_RULES = {"label-content-name-mismatch": {"enabled": True}}

_source: str | None = None


def axe_source() -> str:
    """axe.min.js's text (installed once per machine); skips, or fails under CI, without it."""
    global _source
    if _source is not None:
        return _source
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is not None:
            subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "--no-save", "--no-audit", "--no-fund",
                            "--loglevel=error", AXE_SPEC], cwd=ROOT, capture_output=True, timeout=NPM_TIMEOUT_S, check=False)
    if not AXE_JS.exists():
        reason = f"axe-core is missing ({AXE_JS}): npm install --prefix .axe '{AXE_SPEC}' (.ci/run does it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    _source = AXE_JS.read_text()
    return _source


def check(page: Any, where: str, *, exclude: list[str] | None = None) -> list[dict]:
    """Runs axe on ``page``; fails on any serious or critical violation. Returns all violations
    (the minor ones too, for a caller that wants to look)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source())
    violations = page.evaluate(
        """async ([exclude, rules]) => {
             const context = exclude.length ? { exclude: exclude.map((s) => [s]) } : document;
             const result = await axe.run(context, { resultTypes: ["violations"], rules });
             return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
           }""",
        [exclude or [], EXTRA_RULES],
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {where}: " + "; ".join(
        f"{v['id']} ({v['impact']}: {v['help']}) at {', '.join(v['nodes'])}" for v in blocking)
    return violations
