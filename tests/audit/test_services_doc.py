"""audit/services.py's module docstring describes the path the run writer really takes.

It once said the writer called ``record_run_events`` inside ``RunRecorder``'s transaction, long
after the group-commit writer had started building and storing the rows itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import audit.services
import graphs.writer

ROOT = Path(__file__).resolve().parents[2]


def _writer_imports_from_audit_services() -> set[str]:
    tree = ast.parse((ROOT / "graphs/writer.py").read_text())
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "audit.services"
            for alias in node.names}


def test_every_name_the_docstring_cites_exists_and_the_writer_uses_the_ones_it_says():
    doc = audit.services.__doc__ or ""
    cited = set(re.findall(r"``(\w+)``", doc))
    missing = [name for name in cited if not hasattr(audit.services, name) and not hasattr(graphs.writer, name)]
    assert not missing, f"the docstring cites names that are not there: {missing}"
    used = _writer_imports_from_audit_services()
    assert used and used <= cited, f"the writer uses {sorted(used - cited)}, which the docstring does not describe"
    assert "record_run_events" not in used  # the docstring says the writer does not call it
