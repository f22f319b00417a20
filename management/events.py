"""What the browsers are told of models: every open page hears of a model put in service, after commit."""

from __future__ import annotations

from management import payloads
from management.models import ModelVersion
from relay.transport import announce


def model_activated(version: ModelVersion) -> None:
    announce.to_site(payloads.model_payload(version))
