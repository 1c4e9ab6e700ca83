"""The async twins of the harness's page helpers, for many sessions at once in one process
(test_concurrency, test_memory): the same conditions, through Playwright's async API.
"""

from __future__ import annotations

import time
from typing import Any

from tests.browser.chromium import RUN_COUNTER_JS, VIEWPORT, Offline
from tests.browser.harness import DIAG_JS, SEL_APP, SEL_CHART, SEL_EXCEPTION, SETTLED_JS, TEXT_LABEL, settled_args


async def anew_page(browser: Any, offline: Offline) -> tuple[Any, Any]:
    context = await browser.new_context(viewport=VIEWPORT, service_workers="block")
    await context.route("**/*", offline.ahandle)
    await context.add_init_script(RUN_COUNTER_JS)
    return context, await context.new_page()


async def await_idle(page: Any, min_charts: int = 0, timeout: float = 90.0, settle: float = 0.35) -> float:
    """wait_for_app_idle for the async API (the same condition, checked in the page)."""
    t0 = time.perf_counter()
    try:
        await page.wait_for_function(SETTLED_JS, arg=settled_args(min_charts, settle), timeout=timeout * 1000,
                                     polling=50)
    except Exception as err:  # noqa: BLE001 - say what the page looked like
        try:
            diag = await page.evaluate(DIAG_JS, [SEL_APP, SEL_CHART])
        except Exception as inner:  # noqa: BLE001 - the page itself is gone
            diag = f"(page unreadable: {inner})"
        raise TimeoutError(f"app not idle with {min_charts} charts after {timeout} s at {page.url[:160]}: "
                           f"{diag}") from err
    return time.perf_counter() - t0


async def agoto(page: Any, url: str, min_charts: int = 0, timeout: float = 90.0) -> float:
    t0 = time.perf_counter()
    await page.goto(url, wait_until="commit", timeout=timeout * 1000)
    await await_idle(page, min_charts=min_charts, timeout=timeout)
    return time.perf_counter() - t0


async def arerun_and_wait(page: Any, action: Any, min_charts: int = 0, timeout: float = 90.0,
                          start_timeout: float = 5.0) -> float:
    before = int(await page.evaluate("() => window.__runs || 0"))
    t0 = time.perf_counter()
    await action()
    try:
        await page.wait_for_function("(n) => (window.__runs || 0) > n", arg=before,
                                     timeout=start_timeout * 1000, polling=20)
    except Exception:  # noqa: BLE001 - no rerun started: the value did not change
        pass
    await await_idle(page, min_charts=min_charts, timeout=timeout)
    return time.perf_counter() - t0


async def achoose(page: Any, label: str, option: str) -> None:
    box = page.locator(f'input[role="combobox"][aria-label="{label}"]').first
    await box.click()
    await box.fill(option)
    await page.get_by_role("listbox").get_by_role("option", name=option, exact=True).first.click()


async def aset_text(page: Any, text: str, label: str = TEXT_LABEL) -> None:
    area = page.locator(f'[data-testid="stSidebar"] textarea[aria-label="{label}"]').first
    for _ in range(3):
        await area.fill(text)
        if await area.input_value() == text:
            break
    await area.press("Control+Enter")


async def achart_marks(page: Any, index: int = 0) -> list[str]:
    return list(await page.evaluate("""([sel, i]) => {
        const c = document.querySelectorAll(sel)[i];
        if (!c) return [];
        return Array.from(c.querySelectorAll('[role="graphics-symbol"]')).map(e => e.getAttribute('aria-label') || '');
    }""", [SEL_CHART, index]))


async def aexceptions(page: Any) -> list[str]:
    return [t.strip() for t in await page.locator(SEL_EXCEPTION).all_inner_texts()]
