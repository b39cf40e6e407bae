"""The customer's settings in a real browser: forwarding saved with the signing secret it made shown once, an API
key made (shown once, and working) and revoked (and refused from then on); a send from the form."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, expect

from tests.web.weblib import ACME_NUMBER, Api
from tests.webui.conftest import sign_in


def test_forwarding_shows_a_made_secret_once(context: BrowserContext, site: Api) -> None:
    sign_in(context, site, "acme")
    page = context.new_page()
    page.goto("/account#forwarding")
    expect(page.locator("#fwd-secret-state")).to_have_text(re.compile("Ключа подписи нет"))
    page.fill("input[name=http_url]", "https://acme.example/hook")
    page.fill("input[name=email]", "ops@acme.example")
    page.click("#fwd button[type=submit]")
    expect(page.locator("#fwd-saved")).to_have_text("Сохранено")
    secret = page.locator("#fwd-once code.secret")
    expect(secret).to_have_count(1)
    made = secret.inner_text()
    assert len(made) >= 16
    assert site.get("/forwarding", "acme").data["http_url"] == "https://acme.example/hook"
    page.reload()
    expect(page.locator("input[name=http_url]")).to_have_value("https://acme.example/hook")
    expect(page.locator("#fwd-once")).to_be_hidden()
    assert made not in page.content()  # never shown again
    page.check("input[name=rotate_http_secret]")
    page.click("#fwd button[type=submit]")
    expect(secret).to_have_count(1)
    assert secret.inner_text() not in ("", made)
    page.fill("input[name=http_url]", "ftp://nowhere")
    page.click("#fwd button[type=submit]")
    expect(page.locator("#fwd-error")).to_contain_text("422")


def test_api_key_made_shown_once_and_revoked(context: BrowserContext, site: Api) -> None:
    sign_in(context, site, "acme")
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    page.goto("/account#keys")
    rows = page.locator("#keys-table tbody tr")
    expect(rows).to_have_count(1)  # the key the test set-up made
    page.click("#key-new")
    whole = page.locator("#key-once-value")
    expect(whole).to_have_text(re.compile(r"^sk_[a-z0-9]{12}_"))
    key = whole.inner_text()
    expect(rows).to_have_count(2)
    assert site.get("/session", key).data["name"] == "acme"
    key_id = key.split("_")[1]
    page.click(f'tr[data-key="{key_id}"] button.revoke')
    expect(page.locator(f'tr[data-key="{key_id}"] .state')).to_contain_text("отозван")
    assert site.get("/session", key).status == 401


def test_send_form_queues_an_sms(context: BrowserContext, site: Api) -> None:
    sign_in(context, site, "acme")
    page = context.new_page()
    page.goto("/account#sends")
    expect(page.locator("select[name=from] option")).to_have_count(2)
    page.select_option("select[name=from]", ACME_NUMBER)
    page.fill("input[name=to]", "+79161234567")
    page.fill("textarea[name=text]", "<i>код</i> 1234")
    page.click("#send button[type=submit]")
    expect(page.locator("#send-result")).to_have_text("Принято: в очереди")
    row = page.locator("#sends-table tbody tr").first
    expect(row.locator("td.text")).to_have_text("<i>код</i> 1234")
    expect(row.locator("td.state")).to_have_text("в очереди")
