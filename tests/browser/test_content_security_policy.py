"""Every page works under the Content-Security-Policy: the browser reports no violation.

The pages, the admin and the API docs (Swagger UI from drf-spectacular-sidecar)
are opened in chromium with a listener for `securitypolicyviolation`, which the
browser fires for each script, style or connection the policy blocked.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live import off_loop
from voting.services import novel_create

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def violations(who, path: str, ready: str) -> list[str]:
    """Open the page, wait until `ready` shows (its scripts ran), and return what the policy blocked."""
    who.context.add_init_script(LISTEN)
    response = who.page.goto(who.base_url + path)
    assert response is not None and response.status == 200, path
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(who.page.locator(ready).first).to_be_visible(timeout=15000)
    return who.page.evaluate("window.__violations")


def test_the_reader_pages_report_no_violation(reader, alice, editor):
    novel = off_loop(
        novel_create, title="정책 아래의 등대", created_by=editor, first_passage="바다는 조용했다. 수아가 웃었다."
    )
    for path, ready in [
        ("/", "h1"),
        (f"/novels/{novel.pk}/", "#conn.live"),
        ("/sources/", "h1"),
        ("/models/", "h1"),
        ("/accounts/login/", "form"),
        ("/accounts/signup/", "form"),
    ]:
        who = reader(alice)
        assert violations(who, path, ready) == [], path
        assert who.errors == [], path


def test_the_admin_reports_no_violation(reader, editor):
    for path in ["/admin/", "/admin/novels/novel/", "/admin/novels/turn/"]:
        who = reader(editor)
        assert violations(who, path, "#content") == [], path


def test_the_api_docs_render_swagger_ui_from_this_site_without_violation(reader):
    who = reader()
    blocked = violations(who, "/api/docs/", ".swagger-ui .info .title")

    assert blocked == []
    expect(who.page.locator(".swagger-ui .info .title")).to_contain_text("Relay Novel API")


def test_the_browsable_api_reports_no_violation(reader, editor):
    novel = off_loop(
        novel_create, title="정책 아래의 등대", created_by=editor, first_passage="바다는 조용했다. 수아가 웃었다."
    )
    for path in ["/api/novels/", f"/api/novels/{novel.pk}/", "/api/blind-rounds/", "/api/review/turns/"]:
        who = reader(editor)
        who.context.set_extra_http_headers({"Accept": "text/html"})
        assert violations(who, path, ".content-main") == [], path
        assert who.errors == [], path


def test_the_page_of_a_form_that_failed_its_csrf_check_reports_no_violation(reader):
    who = reader()
    assert violations(who, "/accounts/login/", "form") == []

    who.page.evaluate(
        """() => {
          const form = document.querySelector("form");
          form.querySelector("[name=csrfmiddlewaretoken]").value = "forged";
          form.querySelector("[name=username]").value = "nobody";
          form.querySelector("[name=password]").value = "nothing";
          form.submit();
        }"""
    )

    expect(who.page.locator("h1")).to_have_text("요청을 확인하지 못했습니다", timeout=15000)
    assert who.page.evaluate("window.__violations") == []
