"""The engine is plain Python: importing it loads no web stack."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_imports_nothing_from_the_web_stack():
    code = (
        "import sys, graphs.engine.runtime, graphs.engine.validate, graphs.engine.nodes, graphs.engine.llm.openai_provider;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('django','celery','channels','rest_framework','kaizen_web')"
        " or m in ('graphs.models','graphs.services')];print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine pulled in: {out.stdout}"


def test_no_engine_module_names_the_web_stack():
    offenders = []
    for path in (ROOT / "graphs" / "engine").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and any(
                f" {m}" in stripped or f" {m}." in stripped for m in ("django", "celery", "channels", "rest_framework", "kaizen_web")
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []
