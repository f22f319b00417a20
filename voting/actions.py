"""What a person sends to propose and vote, read once for every door: the socket, the page's forms and the API.

Each door hands over what it received (the socket's JSON object, the form's
POST, the API's parsed body, JSON or a form). One rule reads a number from any
of them: a whole number, or its digits as text (a form has nothing else), never
true, false or 1.5. What is read goes to the one service call of the action, and
the answer uses the same names everywhere (docs/websocket.md, docs/api.md).
A field that cannot be read raises InvalidField; each door answers it in its
own way (the socket's `bad_message`, the API's `invalid` with `fields`, the
form's message), as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from novels.models import Novel, SourceText
from relay.common import numbers
from relay.common.errors import InvalidField, NoOpenRound
from voting import services
from voting.models import Round, Vote
from voting.selectors import current_round, user_vote


def whole_number(data: object, name: str) -> int:
    """The field as an int: a whole number (not true or false) a 64-bit field holds, or its digits as text
    (relay.common.numbers).

    `data` is what the door received; one that is not an object (a JSON list, say) has no field."""
    value = numbers.whole_number(data.get(name) if isinstance(data, Mapping) else None)
    if value is None:
        raise InvalidField(name, f"'{name}' 값이 올바르지 않습니다.")
    return value


def text(data: object, name: str) -> str:
    """The field as text: a string of characters (a lone surrogate, "\\ud800" in JSON, is none and has no UTF-8)."""
    value = data.get(name) if isinstance(data, Mapping) else None
    if not isinstance(value, str):
        raise InvalidField(name, f"'{name}' 값이 올바르지 않습니다.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(name, f"'{name}' 값에 글자가 아닌 것이 들어 있습니다.") from None
    return value


def approved_style(data: object, name: str = "style") -> SourceText | None:
    """The approved source text whose voice the field names by id; None when it names none (absent, null, "")."""
    value = data.get(name) if isinstance(data, Mapping) else None
    if value is None or value == "":
        return None
    style = SourceText.objects.filter(pk=whole_number(data, name), status=SourceText.Status.APPROVED).first()
    if style is None:
        raise InvalidField(name, "승인된 문체가 아닙니다.")
    return style


def proposal_fields(data: object) -> dict[str, Any]:
    """The request's `keyword`, `sentences` and optional `style`, as services.proposal_create takes them: the one
    reading of a proposal at every door. The service then checks the keyword's form and the novel's range of
    lengths."""
    return {
        "keyword": text(data, "keyword"),
        "sentences": whole_number(data, "sentences"),
        "style": approved_style(data),
    }


def vote_by_id(*, user: Any, data: object, round_id: int | None = None, novel_id: int | None = None) -> Vote:
    """Cast the vote the request names (`proposal`), in the given round or novel: the one way every door votes."""
    proposal_id = whole_number(data, "proposal")
    return services.vote_cast_by_id(user=user, proposal_id=proposal_id, round_id=round_id, novel_id=novel_id)


def candidate_vote(*, user: Any, data: object, round: Round) -> int:
    """Choose the candidate the request names (`index`, from 0) in the round's second vote; the index."""
    index = whole_number(data, "index")
    services.candidate_vote(round=round, user=user, index=index)
    return index


def taking_votes(novel: Novel | int) -> Round:
    """The novel's round taking proposals or candidate votes (NoOpenRound when there is none): what every door
    proposes and votes in."""
    round_ = current_round(novel)
    if round_ is None:
        raise NoOpenRound()
    return round_


def my_vote(round_: Round, user: Any) -> dict[str, Any]:
    """The socket's `voted` message for where the person's vote stands now (the page's fetch answers carry it)."""
    return voted_message(round_.pk, user_vote(round_, user))


def voted(round_id: int, proposal_id: int | None) -> dict[str, Any]:
    """Where the person's vote now stands, by the names the socket and the API share."""
    return {"round": round_id, "proposal": proposal_id}


def voted_message(round_id: int, proposal_id: int | None) -> dict[str, Any]:
    """The socket's `voted` message (the page's fetch answers carry the same)."""
    return {"type": "voted", **voted(round_id, proposal_id)}
