from __future__ import annotations

# The relay fixtures (a novel with its first round, listeners) are shared with tests/voting.
from tests.voting.conftest import OPENING, round_, site_listener, watch  # noqa: F401
