// vote.mjs: a visitor in a real browser (Debian's chromium, driven by
// playwright-core): opens the vote page, clicks an option, opens the
// result page over HTTPS and waits until it shows that vote.  Prints one
// JSON object with what it saw; the TAP test (t_browser.py) judges it.
//
//   node vote.mjs VOTE_URL RESULT_URL SPKI_SHA256 SCREENSHOT
//
// SPKI_SHA256 is the base64 SHA-256 of the test certificate's public key:
// chromium trusts exactly that certificate and nothing else besides.
import { chromium } from "playwright-core";

const [voteUrl, resultUrl, spki, shot] = process.argv.slice(2);
const out = { ok: false, steps: [] };
let browser;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors-spki-list=" + spki,
    ],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(voteUrl);
  out.steps.push("vote page: " + (await page.title()));
  out.options = await page.locator("button.option").allTextContents();
  await Promise.all([
    page.waitForURL("**/vote"),
    page.locator("button.option", { hasText: "Cats" }).click(),
  ]);
  await page.waitForSelector("#you b");
  out.you = await page.locator("#you").textContent();
  await page.goto(resultUrl);
  out.steps.push("result page: " + (await page.title()));
  // Live: the page polls every second until the vote has been stored.
  await page.waitForFunction(
    () => document.getElementById("total").textContent === "1 vote", null,
    { timeout: 30000 });
  out.pctA = await page.locator("#pct-a").textContent();
  out.pctB = await page.locator("#pct-b").textContent();
  out.nameA = await page.locator("#name-a").textContent();
  out.total = await page.locator("#total").textContent();
  out.statusHidden = await page.locator("#status").isHidden();
  await page.waitForTimeout(800);	// the bars' transition
  await page.screenshot({ path: shot, fullPage: true });
  out.ok = true;
} catch (e) {
  out.error = String(e);
} finally {
  if (browser) await browser.close();
}
console.log(JSON.stringify(out));
