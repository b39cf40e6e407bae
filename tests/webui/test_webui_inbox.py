"""The customer's inbox in a real browser: sign in (a wrong password says so), the messages with the reason each
is the customer's, a new one shown live without a reload, filters and details, a hostile text shown as text,
the language switch, and a phone-sized screen without sideways scrolling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import BrowserContext, expect

from tests.web.weblib import T0, Api
from tests.webui.conftest import sign_in

HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'


def test_sign_in_with_a_wrong_password_then_the_right_one(context: BrowserContext, site: Api) -> None:
    page = context.new_page()
    page.goto("/account")
    page.wait_for_url("**/signin")
    expect(page.locator("h1")).to_have_text("Вход")
    page.fill("input[name=login]", "acme")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_have_text("Неверный логин или пароль")
    page.fill("input[name=password]", site.passwords["acme"])
    page.click("button[type=submit]")
    page.wait_for_url("**/account")
    expect(page.locator("#who")).to_have_text("acme")


def test_inbox_live_filters_detail_and_hostile_text(context: BrowserContext, site: Api) -> None:
    site.message("m1", at=T0, text="первое сообщение", sender="+79161111111")
    site.message("m2", at=T0 + timedelta(minutes=1), text=HOSTILE, sender="<b>Evil</b>")
    site.message("m3", at=T0 + timedelta(minutes=2), text="[CALL]", kind="call", sender="+79162222222")
    site.message("b1", owner="beta", at=T0, text="not acme's")
    sign_in(context, site, "acme")
    page = context.new_page()
    page.goto("/account")
    cards = page.locator("#messages > li")
    expect(cards).to_have_count(3)
    expect(page.locator("#live")).to_have_text("Новые сообщения появляются сами")
    first = cards.nth(0)
    expect(first).to_have_class("message call")
    expect(first.locator(".badge")).to_have_text("Звонок")
    expect(first.locator(".why")).to_contain_text("выделен вам")
    hostile = page.locator('li[data-id="m2"]')
    expect(hostile.locator(".text")).to_have_text(HOSTILE)  # the markup as text, nothing of it run
    expect(hostile.locator(".sender")).to_have_text("<b>Evil</b>")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#messages script, #messages img, #messages b").count() == 0

    page.evaluate("window.notReloaded = true")
    site.message("live1", at=datetime.now(UTC) - timedelta(seconds=1), text="только что пришло")  # routed now
    expect(cards.nth(0)).to_have_attribute("data-id", "live1", timeout=2000)
    expect(cards.nth(0).locator(".text")).to_have_text("только что пришло")
    assert page.evaluate("window.notReloaded") is True

    page.select_option("select[name=kind]", "call")
    page.click("#filters button[type=submit]")
    expect(cards).to_have_count(1)
    expect(cards.nth(0)).to_have_attribute("data-id", "m3")
    page.click("#filters button[type=reset]")
    expect(cards).to_have_count(4)
    page.fill("input[name=q]", "первое")
    page.click("#filters button[type=submit]")
    expect(cards).to_have_count(1)
    page.fill("input[name=q]", "")
    page.fill("input[name=sender]", "+79162222222")
    page.click("#filters button[type=submit]")
    expect(cards).to_have_count(1)
    page.fill("input[name=sender]", "")
    page.fill("input[name=since]", "2026-12-02")
    page.click("#filters button[type=submit]")
    expect(cards).to_have_count(1)  # only the one that came just now
    page.fill("input[name=since]", "")
    page.fill("input[name=until]", "2026-12-01")
    page.click("#filters button[type=submit]")
    expect(cards).to_have_count(3)

    page.click('li[data-id="m2"] a')
    detail = page.locator("#detail")
    expect(detail).to_contain_text("Почему ваше")
    expect(detail).to_contain_text(HOSTILE)
    assert page.evaluate("window.pwned") is None
    assert page.locator("#detail script, #detail img").count() == 0


def test_language_switch_is_kept(context: BrowserContext, site: Api) -> None:
    sign_in(context, site, "acme")
    page = context.new_page()
    page.goto("/account")
    expect(page.locator("#inbox h1")).to_have_text("Входящие SMS")
    page.click("button[data-lang=en]")
    expect(page.locator("#inbox h1")).to_have_text("Incoming SMS")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/account#keys")
    expect(page.locator("#keys h1")).to_have_text("API keys")
    page.click("button[data-lang=ru]")
    expect(page.locator("#keys h1")).to_have_text("API-ключи")


def test_phone_sized_inbox_does_not_scroll_sideways(browser_phone: BrowserContext, site: Api) -> None:
    site.message("long", text="очень-длинное-слово-без-пробелов-" * 12, sender="VeryLongAlphanumericSenderName")
    sign_in(browser_phone, site, "acme")
    page = browser_phone.new_page()
    page.goto("/account")
    expect(page.locator("#messages > li")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
