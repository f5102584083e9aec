"""Benchmark: the web client in headless Chromium against `appyard dev` on loopback.

- **bundle**: what an end user downloads for a page (the entry script and stylesheet, gzip); the Studio,
  the form library and the code editor are separate chunks loaded only in the Studio.
- **first render**: from navigation start until the orders table shows its rows (the page's properties
  fetched, the app rendered, the table's fetcher run and its rows drawn); fresh browser context each time.
- **click → re-render**: from a click on "Hash" until the result text changes, minus the run's own HTTP
  request (from the browser's resource timing): what the client adds on top of the run.

Goals: first render ≤ 1 s, bundle ≤ 300 KB gzip, click → re-render within 20 ms of the run. Not asserted.
"""

from __future__ import annotations

import gzip
import re
import shutil
import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, WEB, Dev

REPO = Path(__file__).resolve().parent.parent
LOADS = 15
CLICKS = 40


def bundle() -> tuple[int, int]:
    """Raw and gzip bytes of the assets index.html loads (what every end-user page downloads first)."""
    html = (WEB / "index.html").read_text()
    assets = [WEB / path.lstrip("/") for path in re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)]
    raw = sum(path.stat().st_size for path in assets)
    packed = sum(len(gzip.compress(path.read_bytes(), 9)) for path in assets)
    return raw, packed


CLICK_SCRIPT = """
async () => {
  const result = document.querySelector("[data-component='hash.result']");
  const before = result ? result.innerText : "";
  performance.clearResourceTimings();
  const changed = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      const now = document.querySelector("[data-component='hash.result']");
      if (now && now.innerText !== before) { observer.disconnect(); resolve(performance.now()); }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const start = performance.now();
  [...document.querySelectorAll("button")].find((button) => button.textContent === "Hash").click();
  const end = await changed;
  const run = performance.getEntriesByType("resource").filter((entry) => entry.name.endsWith("/runs")).pop();
  return { total: end - start, request: run ? run.responseEnd - run.startTime : 0 };
}
"""


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="appyard-web-bench-"))
    workspace = scratch / "workspace"
    shutil.copytree(REPO / "workspace", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    dev = Dev(workspace, scratch)
    renders: list[float] = []
    overheads: list[float] = []
    runs: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for attempt in range(LOADS + 1):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{dev.url}/apps/orders/orders")
                page.wait_for_selector("[data-block=orders] tbody tr:nth-child(2) td")
                elapsed = page.evaluate("performance.now()")
                if attempt:  # the first load warms the server's caches
                    renders.append(float(elapsed))
                context.close()
            page = browser.new_page()
            page.goto(f"{dev.url}/apps/ops/hashing")
            page.get_by_role("textbox", name="Text", exact=True).fill("benchmark")
            for index in range(CLICKS + 3):
                # A different salt each time, so the hash (the text being watched) changes on every click.
                page.get_by_role("switch", name="Add a salt").set_checked(True)
                page.get_by_label("Salt", exact=True).fill(str(index))
                timing = page.evaluate(CLICK_SCRIPT)
                if index >= 3:
                    overheads.append(float(timing["total"]) - float(timing["request"]))
                    runs.append(float(timing["request"]))
            browser.close()
    finally:
        dev.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    raw, packed = bundle()
    print("web client (headless Chromium, loopback)")
    print(f"{'measure':<48}{'median':>10}{'p99/max':>10}")
    print(f"{'first render of orders/orders (ms)':<48}{statistics.median(renders):>10.0f}{max(renders):>10.0f}")
    print(f"{'click → re-render, the run request (ms)':<48}{statistics.median(runs):>10.1f}{max(runs):>10.1f}")
    print(
        f"{'click → re-render, minus the request (ms)':<48}{statistics.median(overheads):>10.1f}{max(overheads):>10.1f}"
    )
    print(f"{'end-user bundle (KB, gzip / raw)':<48}{packed / 1024:>10.0f}{raw / 1024:>10.0f}")
    print("goals: first render ≤ 1000 ms; bundle ≤ 300 KB gzip; re-render within 20 ms of the run")


if __name__ == "__main__":
    main()
