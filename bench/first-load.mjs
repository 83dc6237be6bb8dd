// First load of the public map on an emulated phone over Fast 3G (Chromium DevTools network
// throttling: 1.6 Mbps down, 750 kbps up, 750 ms round trip), cache empty, then a second
// visit with the cache warm. Prints, per run: time until the page is usable (map loaded,
// buttons wired), until the map is complete (every visible tile drawn), bytes on the wire
// and requests. "Usable": the script has wired every button (search, 現在地, language). Usage: node bench/first-load.mjs URL [RUNS]
import { launchBrowser } from '../tests/browser/support.mjs';

const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 3);
const browser = await launchBrowser();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function visit(context, cdp) {
  const page = await context.newPage();
  const s = await context.newCDPSession(page);
  await s.send('Network.enable');
  await s.send('Network.emulateNetworkConditions', { offline: false, latency: 750, downloadThroughput: 200_000, uploadThroughput: 93_750 });
  let bytes = 0;
  let requests = 0;
  const urls = new Map();
  const log = [];
  s.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, { url: e.request.url, start: Date.now() }));
  s.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    requests += 1;
    const r = urls.get(e.requestId);
    if (r) log.push(`${r.url.replace(/^https?:\/\/[^/]+/, '')} ${r.start - t0}–${Date.now() - t0} ms ${e.encodedDataLength} B`);
  });
  const all = [];
  page.on('requestfinished', async (r) => {
    const z = await r.sizes().catch(() => null);
    all.push(`${r.url().replace(/^https?:\/\/[^/]+/, '')} ${z ? z.responseBodySize + z.responseHeadersSize : '?'} B @${Date.now() - t0}`);
  });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(() => document.body.dataset.interactive === 'true', null, { timeout: 120000, polling: 50 });
  const usable = Date.now() - t0;
  await page.waitForFunction(() => window.chizuMap?.loaded() && window.chizuMap.areTilesLoaded(), null, { timeout: 120000, polling: 50 });
  const full = Date.now() - t0;
  await page.waitForTimeout(300);
  await page.close();
  void cdp;
  if (process.env.FIRST_LOAD_LOG) console.error(log.join('\n') + '\n--- all\n' + all.join('\n'));
  return { usable, full, bytes, requests };
}

const first = [];
const second = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'ja-JP' });
  first.push(await visit(context));
  second.push(await visit(context));
  await context.close();
}
await browser.close();
const row = (name, xs) => `| ${name} | ${(median(xs.map((x) => x.usable)) / 1000).toFixed(1)} s | ${(median(xs.map((x) => x.full)) / 1000).toFixed(1)} s | ${Math.round(median(xs.map((x) => x.bytes)) / 1000)} KB | ${median(xs.map((x) => x.requests))} |`;
console.log('| visit | usable (median) | full map (median) | bytes on the wire | requests |');
console.log('|---|---|---|---|---|');
console.log(row('first (cache empty)', first));
console.log(row('second (cache warm)', second));
console.log(`raw: ${JSON.stringify({ first, second })}`);
