"""Opens each page in headless Chromium, waits for its script to publish
`window.results`, and prints them as one JSON object per line.

Usage: drive.py CHROMIUM URL...

Playwright drives the Chromium the test names (Debian's package); it never
downloads a browser of its own.
"""

import json
import sys

from playwright.sync_api import sync_playwright


def main() -> int:
    chromium, urls = sys.argv[1], sys.argv[2:]
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for url in urls:
            page = browser.new_page()
            messages = []
            page.on("console", lambda message: messages.append(message.text))
            page.goto(url)
            page.wait_for_function("window.results !== undefined", timeout=20_000)
            results = page.evaluate("window.results")
            results["console"] = messages
            print(json.dumps({"url": url, "results": results}), flush=True)
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
