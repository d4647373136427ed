"""A steward clears items in the browser; another insurer's item is 404; the supervisor's dashboard."""
from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from tests.api.conftest import A, assert_no_full_number
from tests.ui.conftest import PASSWORD, shot, sign_in


def open_count(page, queue: str) -> tuple[int, int]:
    row = page.locator(f"tr[data-queue={queue}]")
    return (int(row.locator("td.open").inner_text().replace(",", "")),
            int(row.locator("td.in-progress").inner_text().replace(",", "")))


def statuses(world, ids):
    from reconcile.store.models import WorkItem
    with world.engine.connect() as c:
        return dict(c.execute(sa.select(WorkItem.id, WorkItem.status).where(WorkItem.id.in_(ids))).all())


def test_sign_in_page_and_a_wrong_password(page, base_url):
    page.goto(f"{base_url}/")
    assert page.locator("h1").inner_text() == "サインイン"
    shot(page, "01_login")
    page.fill("#username", "steward_a")
    page.fill("#password", "wrong-password")
    page.click("form.login button[type=submit]")
    assert "利用者名またはパスワードが違います" in page.content()
    cookies = page.context.cookies()
    assert not any(c["name"] == "reconcile_session" for c in cookies)


def test_claim_resolve_by_keyboard_and_the_count_drops(page, base_url, ui_world):
    sign_in(page, base_url, "steward_a")
    session = next(c for c in page.context.cookies() if c["name"] == "reconcile_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    before_open, before_progress = open_count(page, "mislink")
    assert before_open == 6 and before_progress == 0
    shot(page, "02_queues")

    page.goto(f"{base_url}/queues/mislink")
    assert page.locator("#items tbody tr").count() == 6
    page.select_option("select[name=severity]", "high")
    page.click("form.filters button[type=submit]")
    assert page.locator("#items tbody tr").count() == 3
    shot(page, "03_queue_filtered")

    page.goto(f"{base_url}/queues")
    page.click("tr[data-queue=mislink] button")
    page.wait_for_url(re.compile(r".*/items/\d+$"))
    first = int(page.url.rsplit("/", 1)[1])
    text = page.content()
    assert "保険者の記録" in text and "住基の記録" in text and "本人と思われる住民" in text
    assert page.locator("#side-by-side mark").count() > 0           # the differing characters are marked
    assert_no_full_number(page.locator("main").inner_text(), {A})
    shot(page, "04_item")

    page.keyboard.press("1")                                         # 修正済み, focus moves to the note
    assert page.locator("input[data-key='1']").is_checked()
    page.keyboard.type("住基で確認、正しい番号に紐付け直した")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r".*/items/\d+\?message=resolved$"))
    second = int(page.url.split("/items/")[1].split("?")[0])
    assert second != first
    assert "解決しました" in page.content()
    shot(page, "05_next_item")
    assert statuses(ui_world, [first, second]) == {first: "resolved_fixed", second: "in_progress"}

    page.goto(f"{base_url}/queues")
    after_open, after_progress = open_count(page, "mislink")
    assert (after_open + after_progress) == (before_open + before_progress) - 1
    assert after_open == before_open - 2 and after_progress == 1
    shot(page, "06_queues_after")


def test_a_steward_of_another_insurer_gets_404(page, base_url, ui_world):
    item_of_a = ui_world.items(A, "mislink")[-1]
    sign_in(page, base_url, "steward_b")
    response = page.goto(f"{base_url}/items/{item_of_a}")
    assert response.status == 404
    assert "見つかりません" in page.content()
    shot(page, "07_other_insurer_404")
    json = page.request.get(f"{base_url}/items/{item_of_a}?format=json")
    assert json.status == 404


def test_forms_need_the_csrf_token(base_url, ui_world):
    item = ui_world.items(A, "mislink")[0]
    with httpx.Client(base_url=base_url, follow_redirects=False) as client:
        login = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        signed = client.post("/login", data={"username": "steward_a", "password": PASSWORD, "csrf": token})
        assert signed.status_code == 303
        refused = client.post(f"/items/{item}/resolve", data={"resolution": "resolved_fixed", "note": "x"})
        assert refused.status_code == 403
        forged = client.post(f"/items/{item}/resolve", data={"resolution": "resolved_fixed", "note": "x", "csrf": "bad"})
        assert forged.status_code == 403
        no_login_token = httpx.post(f"{base_url}/login", data={"username": "steward_a", "password": PASSWORD})
        assert no_login_token.status_code == 403


def test_the_page_and_its_json_share_one_context(page, base_url):
    sign_in(page, base_url, "steward_a")
    data = page.request.get(f"{base_url}/queues?format=json").json()
    by_name = {q["name"]: q for q in data["queues"]}
    assert by_name["mislink"]["label"] == "紐付け誤り疑い"
    assert open_count(page, "mislink") == (by_name["mislink"]["open"], by_name["mislink"]["in_progress"])


def test_supervisor_dashboard(page, base_url):
    sign_in(page, base_url, "supervisor_a")
    page.goto(f"{base_url}/dashboard")
    assert page.locator("h1").inner_text().startswith("ダッシュボード")
    assert page.locator("#ageing tbody tr").count() >= 1
    assert page.locator("#throughput tbody tr").count() == 8
    shot(page, "08_dashboard")


def test_a_steward_may_not_see_the_dashboard(page, base_url):
    sign_in(page, base_url, "steward_a")
    response = page.goto(f"{base_url}/dashboard")
    assert response.status == 403
