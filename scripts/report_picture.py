"""The picture of an HTML report in the README: opens RUN/report.html in headless Chromium and
saves a screenshot of its first screens.

    .venv/bin/radbench demo --out runs/demo                       # or any run with a report
    .venv/bin/python scripts/report_picture.py runs/demo --out docs/report.png

Needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium (the [dev] extra).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def chromium_driver(*flags: str):
    """A headless Chromium WebDriver (also what tests/report/test_html.py opens reports in);
    RuntimeError with the way to install it when chromium or chromedriver is missing."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        raise RuntimeError("chromium and chromedriver not installed (Debian: apt-get install "
                           "chromium chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory holding report.html")
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    report = args.run / "report.html"
    if not report.is_file():
        parser.error(f"{report}: not found; run `radbench report {args.run}` first")
    try:
        browser = chromium_driver(f"--window-size={args.width},{args.height}",
                                  "--hide-scrollbars")
    except RuntimeError as exc:
        parser.error(str(exc))
    try:
        browser.get(report.resolve().as_uri())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(args.out))
    finally:
        browser.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
