// End-to-end tests of the map viewer in headless Chromium (Debian's), driven by
// playwright-core, against a live `chizu serve` on 127.0.0.1. Screenshots go to
// tests/artifacts/. Run: node --test tests/browser/*.test.mjs (scripts/test.sh does).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { ROOT, BIN, ART, startServer, launchBrowser, openPage as open, mapReady, axe, assertValidStyle } from './support.mjs';

// A point well inside the 方ノ上谷川 土石流 warning zone (箇所番号 212-Ⅰ-003).
const LANDSLIDE = [138.303654, 34.894408];
// A point in the 葉梨川 flood area (checked against /hazard in the test).
const FLOOD = [138.2806, 34.8775];

let server;
let publicUrl;
let internalUrl;
let staffKey;
let browser;
let tmp;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-browser-'));
  const keys = path.join(tmp, 'keys.toml');
  staffKey = execFileSync(BIN, ['keys', 'add', 'doro-test', '--role', 'doro-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  ({ server, publicUrl, internalUrl } = await startServer(ROOT, ['--keys', keys, '--audit-log', path.join(tmp, 'audit.log')]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const openPage = (url, viewport) => open(browser, url, viewport);

/** Taps the map at a lon/lat. */
async function tap(page, [lon, lat]) {
  const p = await page.evaluate(([x, y]) => window.chizuMap.project([x, y]), [lon, lat]);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + p.x, box.y + p.y);
}

test('public page renders the flood layer with no errors and no outside requests', async () => {
  const check = await (await fetch(`${publicUrl}/hazard?lon=${FLOOD[0]}&lat=${FLOOD[1]}`)).json();
  assert.ok(check.hazards.some((h) => h.layer === 'kouzui_shinsui'), 'the test point is in the flood layer');
  const { page, errors, foreign } = await openPage(`${publicUrl}/#15/${FLOOD[1]}/${FLOOD[0]}`);
  await mapReady(page);
  const png = PNG.sync.read(await page.locator('#map').screenshot({ path: path.join(ART, 'public-flood.png') }));
  const colours = new Set();
  for (let i = 0; i < png.data.length; i += 4 * 97) colours.add(`${png.data[i]},${png.data[i + 1]},${png.data[i + 2]}`);
  assert.ok(colours.size > 20, `the map canvas is not blank (${colours.size} colours)`);
  // The pixel at the flood point is the flood colour: warm (pale yellow → pink), not the background.
  const p = await page.evaluate(([x, y]) => window.chizuMap.project([x, y]), FLOOD);
  const i = (Math.round(p.y) * png.width + Math.round(p.x)) * 4;
  const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
  assert.ok(r > 200 && r > b + 25 && `${r},${g},${b}` !== '244,241,234', `flood colour at the point, got rgb(${r},${g},${b})`);
  const rendered = await page.evaluate(([x, y]) => window.chizuMap.queryRenderedFeatures(window.chizuMap.project([x, y]), { layers: ['kouzui-shinsui-fill'] }).length, FLOOD);
  assert.ok(rendered > 0, 'MapLibre reports the flood polygon under the point');
  assert.deepEqual(errors, [], 'no console errors');
  assert.deepEqual(foreign, [], 'no requests to other hosts');
  await page.close();
});

test('tapping a landslide zone shows its report, and the language switch works', async () => {
  const { page, errors, foreign } = await openPage(`${publicUrl}/#16/${LANDSLIDE[1]}/${LANDSLIDE[0]}`);
  await mapReady(page);
  await tap(page, LANDSLIDE);
  const report = page.locator('#report');
  await report.getByText('土砂災害警戒区域').first().waitFor({ timeout: 20000 });
  const text = await report.innerText();
  assert.match(text, /土石流/);
  assert.match(text, /212-Ⅰ-003/);
  assert.match(text, /近くの避難先/);
  assert.equal(await report.getAttribute('aria-live'), 'polite');
  await page.screenshot({ path: path.join(ART, 'public-landslide-report.png'), fullPage: true });

  await page.click('#lang');
  await page.locator('h1').getByText('Yaizu City hazard map').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await report.getByText('Landslide warning zone').first().waitFor({ timeout: 20000 });
  assert.match(await page.locator('#search button[type=submit]').innerText(), /Search/);
  await page.screenshot({ path: path.join(ART, 'public-english.png'), fullPage: true });
  await page.click('#lang');
  await page.locator('h1').getByText('焼津市 ハザードマップ').waitFor();
  assert.match(page.url(), /#\d+(\.\d+)?\/34\.89/, 'the view is kept in the URL hash (permalink)');
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await axe(page, 'public page with a report');
  await page.close();
});

test('searching a town flies there and reports', async () => {
  const { page, errors } = await openPage(`${publicUrl}/#12/34.86/138.30`);
  await mapReady(page);
  await page.fill('#q', '方ノ上');
  await page.press('#q', 'Enter');
  const first = page.locator('#results button').first();
  await first.waitFor();
  assert.match(await first.innerText(), /方ノ上/);
  await first.click();
  // The report names the place chosen.
  await page.locator('#report').getByText(/方ノ上.*のハザード情報/).waitFor({ timeout: 20000 });
  await page.waitForFunction(() => window.chizuMap.getZoom() >= 14 && !window.chizuMap.isMoving(), null, { timeout: 20000 });
  const embed = await page.locator('#embed-code').inputValue();
  assert.match(embed, /<iframe src="http:\/\/127\.0\.0\.1:\d+\/\?lang=ja&embed=map#[^"]+" [^>]*allow="geolocation"/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('staff page asks for a key, refuses a wrong one, and shows internal layers with one', async () => {
  const { page, errors, foreign } = await openPage(`${internalUrl}/`, { width: 1280, height: 800 });
  await page.locator('#login').waitFor();
  assert.equal(await page.locator('#staff').isHidden(), true, 'no map before a key');
  await axe(page, 'staff login');
  await page.fill('#key', 'chizu_wrong');
  await page.click('#login button');
  await page.locator('#login-error').getByText('キーが正しくない').waitFor();
  await page.fill('#key', staffKey);
  await page.click('#login button');
  await mapReady(page);
  const tree = await page.locator('#toggles').innerText();
  assert.match(tree, /交差点台帳/);
  assert.match(tree, /区画線台帳/);
  assert.doesNotMatch(tree, /浸水履歴/, 'doro-kanri does not see flood history');
  await page.evaluate(() => window.chizuMap.jumpTo({ center: [138.3181, 34.8659], zoom: 16 }));
  await mapReady(page);
  // Identify a road-ledger intersection: its attributes appear in a popup.
  const hit = await page.evaluate(() => {
    const m = window.chizuMap;
    const c = m.getCanvas();
    for (const f of m.queryRenderedFeatures({ layers: ['kousaten-fill'] })) {
      const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      const lon = ring.reduce((a, p) => a + p[0], 0) / ring.length;
      const lat = ring.reduce((a, p) => a + p[1], 0) / ring.length;
      const pt = m.project([lon, lat]);
      const inside = pt.x > 20 && pt.y > 20 && pt.x < c.clientWidth - 20 && pt.y < c.clientHeight - 20;
      if (inside && m.queryRenderedFeatures(pt, { layers: ['kousaten-fill'] }).length) return [pt.x, pt.y];
    }
    return null;
  });
  assert.ok(hit, 'an intersection is on screen');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + hit[0], box.y + hit[1]);
  const ident = page.locator('#identify');
  await ident.getByText('交差点台帳').first().waitFor({ timeout: 20000 });
  assert.match(await ident.innerText(), /管理番号/);
  assert.equal(await page.locator('.maplibregl-popup').count(), 0, 'the attributes are listed once, in the panel');
  // The lot report is fetched with the key: saved as CSV without a 401 tab.
  const [download] = await Promise.all([page.waitForEvent('download'), ident.locator('button[data-land="csv"]').click()]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^layer,layer_title,feature_id,area_m2,share_pct,length_m,attributes/);
  assert.match(csv, /"kousaten"/, 'the staff lot report names the internal layer the key may see');
  await page.screenshot({ path: path.join(ART, 'staff-map.png') });
  await axe(page, 'staff map');
  // Layer choices are remembered across a reload.
  const first = page.locator('#toggles input').first();
  const was = await first.isChecked();
  await first.click();
  await page.reload();
  await mapReady(page);
  assert.equal(await page.locator('#toggles input').first().isChecked(), !was, 'the layer choice survived a reload');
  await page.locator('#toggles input').first().click();
  assert.deepEqual(errors.filter((e) => !e.includes('401')), [], 'no console errors besides the refused key');
  assert.deepEqual(foreign, []);
  await page.close();
});

test('a key revoked mid-session returns the staff page to the log-in, saying why', async () => {
  const keys = path.join(tmp, 'keys.toml');
  const key = execFileSync(BIN, ['keys', 'add', 'revoke-me', '--role', 'doro-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  const { page } = await openPage(`${internalUrl}/`, { width: 1280, height: 800 });
  await page.locator('#login').waitFor();
  await page.fill('#key', key);
  await page.click('#login button');
  await mapReady(page);
  execFileSync(BIN, ['keys', 'revoke', 'revoke-me', '--keys', keys]);
  // The next request is refused: search, a click, or a tile.
  for (let i = 0; i < 20 && await page.locator('#login').isHidden(); i++) {
    await page.fill('#q', '本町').catch(() => {});
    await page.press('#q', 'Enter').catch(() => {});
    await page.waitForTimeout(500);
  }
  await page.locator('#login-error').getByText('取り消された').waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#staff').isHidden(), true);
  await page.close();
});

test('public style never names internal layers; both generated styles are valid', async () => {
  const style = await (await fetch(`${publicUrl}/styles/public.json`)).json();
  assertValidStyle(style, 'public style');
  const staff = await (await fetch(`${internalUrl}/styles/internal.json`, { headers: { Authorization: `Bearer ${staffKey}` } })).json();
  assertValidStyle(staff, 'internal style');
  const text = JSON.stringify(style);
  for (const id of ['kousaten', 'kukakusen', 'shinsui_rireki']) assert.ok(!text.includes(id), id);
  assert.match(style.sources.chizu.tiles[0], new RegExp(`^${publicUrl}/tiles/`));
  assert.equal((await fetch(`${publicUrl}/styles/internal.json`)).status, 404);
});

test('at a 家屋倒壊 point the way goes to a shelter that opens for it; focus and scroll follow the report', async () => {
  const HOUSE = [138.256, 34.789];
  const rep = await (await fetch(`${publicUrl}/hazard?lon=${HOUSE[0]}&lat=${HOUSE[1]}`)).json();
  const suitable = rep.shelters.find((s) => s.opens_for_found === true);
  assert.ok(suitable, 'the data lists a shelter that opens for the hazards here');
  const { page, errors } = await openPage(`${publicUrl}/#14/${HOUSE[1]}/${HOUSE[0]}`);
  await mapReady(page);
  await tap(page, HOUSE);
  await page.locator('#report-heading').waitFor({ timeout: 20000 });
  await page.waitForTimeout(1000);
  const info = await page.evaluate(() => ({
    focused: document.activeElement?.id,
    height: document.documentElement.scrollHeight,
    route: window.chizuMap.getSource('report').serialize().data.features.find((f) => f.properties.kind === 'route')?.geometry.coordinates,
  }));
  assert.equal(info.focused, 'report-heading');
  assert.ok(info.height <= 640, `one scroll area: the page is ${info.height} px on a 640 px screen`);
  const [, end] = info.route;
  assert.ok(Math.abs(end[0] - suitable.lon) < 1e-6 && Math.abs(end[1] - suitable.lat) < 1e-6, 'the line ends at the suitable shelter');
  const text = await page.locator('#report').innerText();
  assert.match(text, /（直線距離）/);
  assert.match(text, /警戒レベル/);
  await page.screenshot({ path: path.join(ART, 'public-house-collapse-report.png') });
  await axe(page, 'report at a house-collapse point');
  assert.deepEqual(errors, []);
  await page.close();
});

test('English: romaji search, ASCII brackets, the legend button, and "nothing found" said again on switch', async () => {
  const { page, errors } = await openPage(`${publicUrl}/`);
  await mapReady(page);
  assert.equal(await page.locator('#map-loading').count(), 0, 'the loading notice is gone once the map is loaded');
  // Nothing found, then the language switched: the message follows the language.
  await page.fill('#q', 'zzqx');
  await page.press('#q', 'Enter');
  await page.locator('#results li', { hasText: '見つかりませんでした' }).waitFor();
  await page.click('#lang');
  await page.locator('#results li', { hasText: 'Nothing found' }).waitFor();
  // Romaji finds a name by its kana reading.
  await page.fill('#q', 'honmachi');
  await page.press('#q', 'Enter');
  const hit = page.locator('#results button', { hasText: '本町タワー' });
  await hit.waitFor();
  assert.match(await hit.innerText(), /^[A-Z][a-z]+ \(本町タワー\) \(/, 'rōmaji, then the name and its layer in English brackets');
  // The 町丁目 comes first, named in rōmaji from its reading, its name as written beside it.
  assert.match(await page.locator('#results button').first().innerText(), /^Honmachi 1-chome \(本町一丁目\)/);
  await hit.click();
  await page.locator('#report-heading').waitFor({ timeout: 20000 });
  const text = await page.locator('#report').innerText();
  const tower = (await (await fetch(`${publicUrl}/search?q=honmachi`)).json()).results.find((x) => x.name === '本町タワー');
  const rep = await (await fetch(`${publicUrl}/hazard?lon=${tower.lon.toFixed(6)}&lat=${tower.lat.toFixed(6)}&lang=en`)).json();
  assert.ok(rep.shelters.length > 0);
  for (const s of rep.shelters) {
    assert.ok(text.includes(` (${s.layer_title})`), `"${s.layer_title}" in ASCII brackets after the name:\n${text}`);
    assert.ok(!text.includes(`（${s.layer_title}）`), 'no full-width brackets around English words');
  }
  assert.match(text, /\([A-Z][a-z]+\)/, 'a shelter name in rōmaji');
  // A town chosen from the results: the report is headed with its rōmaji name, focus on it.
  await page.fill('#q', 'honmachi');
  await page.press('#q', 'Enter');
  await page.locator('#results button', { hasText: 'Honmachi 1-chome' }).click();
  await page.locator('#report-heading', { hasText: 'Hazards at Honmachi 1-chome (本町一丁目)' }).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'report-heading');
  // The legend button on the map opens the legend.
  await page.click('.legend-button');
  await page.waitForTimeout(600);
  assert.equal(await page.evaluate(() => document.getElementById('legend').closest('details').open), true);
  assert.ok(await page.locator('#legend .legend-layer').count() > 0);
  await axe(page, 'English report with the legend open');
  assert.deepEqual(errors, []);
  await page.close();
});
