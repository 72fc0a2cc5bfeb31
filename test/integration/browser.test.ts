/**
 * The browser the browser tests drive (test/harness/browser.ts) works with nothing installed by
 * hand: the Chromium shipped inside the @sparticuz/chromium npm package launches under
 * playwright-core, renders, runs scripts and clicks, even on a machine that has Debian's Chromium
 * (so CI, which has one, proves the fallback a fresh machine uses).
 */
import { afterAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { findChromium, launchChromium, shippedChromium } from "../harness/browser";

let browser: Browser | undefined;
afterAll(() => browser?.close());

describe("the browser of the browser tests", () => {
  it("launches the Chromium shipped by npm and drives a page", { timeout: 90_000 }, async () => {
    const shipped = shippedChromium();
    expect(shipped.source).toBe("npm");
    browser = await launchChromium(
      [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
      ],
      {},
      shipped,
    );
    const page = await browser.newPage();
    await page.setContent(`<h1>gateway</h1><button onclick="this.textContent = String(6 * 7)">ask</button>`);
    await page.click("button");
    expect(await page.textContent("button")).toBe("42");
    expect(await page.evaluate("navigator.userAgent")).toMatch(/HeadlessChrome\/\d+/);
  });

  it("prefers CHROMIUM_PATH, then the system's Chromium, and refuses a CHROMIUM_PATH that is not a program", () => {
    const saved = process.env.CHROMIUM_PATH;
    try {
      process.env.CHROMIUM_PATH = shippedChromium().executablePath;
      expect(findChromium()).toMatchObject({ executablePath: process.env.CHROMIUM_PATH, source: "system" });
      process.env.CHROMIUM_PATH = "/dev/null";
      expect(() => findChromium()).toThrow(/CHROMIUM_PATH=\/dev\/null is not an executable file/);
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = saved;
    }
  });
});
