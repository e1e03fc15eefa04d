"""audit/services.py's module docstring describes the path the run writer really takes.

It once said the writer called ``record_run_events`` inside ``RunRecorder``'s transaction, long
after the group-commit writer had started building and storing the rows itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import audit.services
import graphs.runner.writer

ROOT = Path(__file__).resolve().parents[2]


def _writer_imports() -> set[str]:
    tree = ast.parse((ROOT / "graphs/runner/writer.py").read_text())
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_every_name_the_docstring_cites_exists_and_the_writer_uses_the_ones_it_says():
    doc = audit.services.__doc__ or ""
    cited = set(re.findall(r"``(\w+)``", doc))
    missing = [name for name in cited if not hasattr(audit.services, name) and not hasattr(graphs.runner.writer, name)]
    assert not missing, f"the docstring cites names that are not there: {missing}"
    # The writer knows audit only as the event copy graphs/signals.py hands it.
    assert not any(module.startswith("audit") for module in _writer_imports())
    copy = audit.services.RUN_EVENT_COPY
    used = {copy.rows.__name__, copy.insert.__name__, copy.committed.__name__}
    assert used <= cited, f"the writer uses {sorted(used - cited)}, which the docstring does not describe"
    assert "record_run_events" not in used  # the docstring says the writer does not call it
