from __future__ import annotations

# The listeners are shared with tests/voting (the novel and its round are tests/conftest.py's).
from tests.voting.conftest import site_listener, watch  # noqa: F401
