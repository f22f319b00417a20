from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
WEB_PACKAGES = {"django", "rest_framework", "channels", "relay", "novels", "voting", "management"}


def test_engine_source_imports_nothing_from_the_web_side():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in WEB_PACKAGES]
    assert offenders == []


def test_engine_imports_and_runs_with_django_blocked():
    code = (
        "import sys\n"
        "for name in ('django', 'rest_framework', 'channels'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "import engine, engine.text, engine.vocab, engine.morph, engine.data, engine.model\n"
        "import engine.checkpoint, engine.train, engine.generate, engine.cli\n"
        "from engine.vocab import Vocab\n"
        "vocab = Vocab.build(['오리'])\n"
        "assert vocab.decode(vocab.encode('오리')) == '오리'\n"
        "assert not any(m.startswith('django') for m in sys.modules if sys.modules[m] is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ENGINE.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
