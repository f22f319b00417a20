"""What every API view shares: one error format, permissions, paging, throttles.

Every error leaves the API as `{"code": ..., "detail": ...}` (plus `"fields"`
for invalid input). Domain errors keep their own code, the same one the
websocket sends; DRF's own errors are given the codes listed in ERROR_CODES.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.validators import ProhibitNullCharactersValidator
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, pagination, parsers, permissions, serializers, throttling
from rest_framework.response import Response
from rest_framework.settings import api_settings

from relay.common.errors import DomainError, InvalidField
from relay.common.numbers import whole_number

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    # Not at run time: DRF imports this module (throttles, pagination) while
    # rest_framework.views is still being imported.
    from drf_spectacular.utils import OpenApiResponse
    from rest_framework.request import Request
    from rest_framework.views import APIView

# DRF's exception codes, as this API names them.
ERROR_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "not_authenticated",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "throttled": "throttled",
    "invalid": "invalid",
    "parse_error": "parse_error",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """A ValidationError's nested detail as {"field.sub": ["message", ...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or api_settings.NON_FIELD_ERRORS_KEY: [str(message) for message in messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn domain and DRF errors into the API's one error format."""
    response = _error_answer(exc)
    if response is not None:
        # A message may quote the input ("\\ud800" is not a valid choice), and a lone
        # surrogate has no UTF-8: the answer must still be one.
        response.data = printable(response.data)
    return response


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(value: Any) -> Any:
    """The value with every string made encodable (a lone surrogate becomes U+FFFD)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


def _error_answer(exc: Exception) -> Response | None:
    if isinstance(exc, InvalidField):
        body = {"code": exc.code, "detail": f"{exc.field}: {exc.message}", "fields": {exc.field: [exc.message]}}
        return Response(body, status=exc.status)
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response({"code": "too_large", "detail": TOO_LARGE}, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 and log it

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        name, messages = next(iter(fields.items()))
        detail = messages[0] if name == api_settings.NON_FIELD_ERRORS_KEY else f"{name}: {messages[0]}"
        body = {"code": "invalid", "detail": detail, "fields": fields}
    else:
        code = ERROR_CODES.get(exc.default_code, exc.default_code)
        body = {"code": code, "detail": str(exc.detail)}
    return Response(body, status=exc.status_code, headers=headers)


TOO_LARGE = "요청이 너무 큽니다."


class JSONParser(parsers.JSONParser):
    """DRF's, with nesting too deep for Python's parser refused as any malformed JSON is."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    code = serializers.CharField(help_text="not_found, permission_denied, round_closed, … (README lists them)")
    detail = serializers.CharField(help_text="사람이 읽을 설명")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="입력 오류: 필드별 메시지 (code가 invalid일 때)",
    )


ERROR_DESCRIPTIONS = {
    400: "invalid input or a refused action (code tells which)",
    401: "not logged in (not_authenticated)",
    403: "not allowed (permission_denied)",
    404: "no such object (not_found)",
    409: "conflicts with the current state (e.g. round_closed, generation_busy)",
    413: "too large (file_too_large)",
    415: "a body of a media type the operation does not take (unsupported_media_type)",
    429: "too many requests (throttled, rate_limited)",
    503: "service unavailable",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for @extend_schema(responses=...)."""
    from drf_spectacular.utils import OpenApiResponse

    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(status, "error"))
        for status in statuses
    }


def add_common_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: every operation can be throttled or given a bad token
    (and one that takes a body, a body of another media type),
    and an id in a path is what Django's <int:> matches (0 or more, 64 bits)."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].update({"minimum": 0, "maximum": 2**63 - 1})
            responses = operation.setdefault("responses", {})
            common = ("401", "415", "429") if "requestBody" in operation else ("401", "429")
            if any(parameter["name"] == "page_size" for parameter in operation.get("parameters", [])):
                common = (*common, "400")  # a page or page size outside what the parameters state
            for status in common:
                responses.setdefault(
                    status,
                    {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        "description": ERROR_DESCRIPTIONS[int(status)],
                    },
                )
    return result


@csrf_exempt  # a POST to a wrong address is answered 404 too, not refused for CSRF
def not_found(request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other address under /api/: the API's 404, not the site's page."""
    return JsonResponse({"code": "not_found", "detail": "없는 주소입니다."}, status=404)


def absolute(request: Any, path: str) -> str:
    """The path as an absolute URL for the request's host (the path as it is without a request)."""
    return request.build_absolute_uri(path) if request is not None else path


class IsStaff(permissions.BasePermission):
    """Reviewers: staff members only."""

    message = "검토자만 할 수 있습니다."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request: Request, paginator: Any) -> int | str:
        """The page asked for: one whole number from 1 (beyond the last page: 404, as DRF answers), else a 400
        naming the field; "last" as DRF allows."""
        given = request.query_params.getlist(self.page_query_param)
        if not given:
            return 1
        if len(given) == 1 and given[0] in self.last_page_strings:
            return given[0]
        digits = given[0].strip() if len(given) == 1 else ""
        if not (digits.isascii() and digits.isdigit() and digits.lstrip("0")):
            raise exceptions.ValidationError({self.page_query_param: ["쪽 번호는 1 이상의 정수 하나로 적어 주세요."]})
        number = whole_number(digits, minimum=1)
        if number is None:
            raise exceptions.NotFound("그런 쪽이 없습니다.")  # more pages than any list has
        return number

    def get_page_size(self, request: Request) -> int:
        """The page size asked for: 1 to max_page_size, else a 400 naming the field (the schema says so)."""
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        size = whole_number(given[0], minimum=1, maximum=self.max_page_size) if len(given) == 1 else None
        if size is None:
            message = f"한 쪽의 결과 수는 1에서 {self.max_page_size} 사이의 정수로 적어 주세요."
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return size

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's parameters, with the page size's bounds stated (outside them: 400)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update({"minimum": 1})
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
                parameter["description"] = f"한 쪽의 결과 수 (기본 {self.page_size}, 최대 {self.max_page_size})"
        return parameters


class RateFromSettings:
    """Read the rate when the request comes, so changed settings take effect (tests, config);
    let the request through, with a warning, while the cache that counts cannot be reached."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except (redis.RedisError, OSError):
            # In the scaled profile the counts live in Redis. While it is down a
            # vote still goes to PostgreSQL: refusing every request with a 500
            # would lose more than a few unthrottled seconds do.
            log.warning("throttle %s: the cache is unreachable; letting the request through", self.scope, exc_info=True)
            return True


class AnonThrottle(RateFromSettings, throttling.AnonRateThrottle):
    pass


class UserThrottle(RateFromSettings, throttling.UserRateThrottle):
    pass


class AddressThrottle(RateFromSettings, throttling.SimpleRateThrottle):
    """Requests of one kind (`scope`) per client address, logged in or not."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginThrottle(AddressThrottle):
    """Token requests per client address, so passwords cannot be guessed in bulk."""

    scope = "auth"


class LoginAddressThrottle(AddressThrottle):
    """Log-in attempts on the page and the admin's per client address."""

    scope = "login"


class LoginAccountThrottle(RateFromSettings, throttling.SimpleRateThrottle):
    """Log-in attempts per account, from any address and at every door (the page, the admin, the API's
    token): one name cannot be guessed at from many addresses, nor through another door."""

    scope = "login_account"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        # The API's request has parsed its body, JSON or a form; a page's has its form.
        data = request.data if hasattr(request, "data") else request.POST
        username = data.get("username", "") if isinstance(data, Mapping) else ""
        if not isinstance(username, str) or not username.strip():
            return None  # nothing to guess at: the form refuses it anyway
        ident = hashlib.sha256(unicodedata.normalize("NFKC", username.strip()).casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class BookDownloadThrottle(AddressThrottle):
    """A finished book's files downloaded per client address."""

    scope = "book"


class SignupThrottle(AddressThrottle):
    """New accounts per client address: accounts are what votes are counted by."""

    scope = "signup"


def throttled_wait(request: Any, *throttles: throttling.SimpleRateThrottle) -> float | None:
    """None if the request may go on; else the seconds until it may (every throttle counts it)."""
    waits = []
    for throttle in throttles:
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 60.0)
    return max(waits) if waits else None


def login_wait(request: Any) -> float | None:
    """None if this log-in attempt (the page's or the admin's) may go on; else the seconds until one may."""
    return throttled_wait(request, LoginAddressThrottle(), LoginAccountThrottle())


class NFCCharField(serializers.CharField):
    """Text input, NFC-normalised so that one Hangul syllable is one character. Only a string is text: DRF's
    CharField would take the number 0 as "0", which the schema (type string) does not allow."""

    default_error_messages = {"not_text": "글자(문자열)로 보내 주세요."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A NUL is a control character like any other: the services' one rule removes or refuses those
        # (engine.text), at every door, so DRF's own refusal of it alone is not needed here.
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return unicodedata.normalize("NFC", super().to_internal_value(data))


class JSONBooleanField(serializers.BooleanField):
    """true or false, as JSON writes them: DRF's BooleanField also takes 0, 1, "yes" and "off", which the schema
    (type boolean) does not allow."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


MIN_LENGTH_MARK = "x-relay-min-length"


def stated_rules(**rules: Any) -> dict[str, Any]:
    """The schema of a string field whose rules the services check (extend_schema_field).

    drf-spectacular writes minLength 1 over any of a non-blank field's own;
    restate_min_lengths puts the stated one back."""
    schema = {"type": "string", **rules}
    if "minLength" in rules:
        schema[MIN_LENGTH_MARK] = rules["minLength"]
    return schema


def restate_min_lengths(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Postprocessing hook: each stated minLength (stated_rules) is the one the schema shows."""
    for component in result.get("components", {}).get("schemas", {}).values():
        for prop in component.get("properties", {}).values():
            if MIN_LENGTH_MARK in prop:
                prop["minLength"] = prop.pop(MIN_LENGTH_MARK)
    return result
