// A city's GIS administrator, from nothing: `chizu init` → copy files → `chizu inspect DIR`
// → edit the TODOs → `chizu check --strict` → `chizu serve`, then the public map in headless
// Chromium at phone size. Nothing is copied from the sample city: the files are the second
// sample root's national open data (cities/mihara/data).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { ROOT, BIN, ART, startServer, launchBrowser, openPage, mapReady, axe, assertValidStyle, colourCount, drawnLayerIds, legendLayerIds } from './support.mjs';

let tmp;
let city;
let server;
let publicUrl;
let browser;
const chizu = (...args) => execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-newcity-'));
  city = path.join(tmp, 'city');
  chizu('init', city);
  fs.cpSync(path.join(ROOT, 'cities/mihara/data'), path.join(city, 'data'), { recursive: true });
  const out = chizu('inspect', path.join(city, 'data'), '--root', city);
  assert.match(out, /4 starting layer files written/);
  // What the administrator edits: titles, publishing, the site's name.
  for (const f of fs.readdirSync(path.join(city, 'layers'))) {
    const p = path.join(city, 'layers', f);
    const t = fs.readFileSync(p, 'utf8')
      .replace('en = "TODO English title"', `en = "${f.replace('.toml', '')}"`)
      .replace(/access = \{ view = "internal", roles = \[\] \}.*/, 'access = { view = "public" }');
    fs.writeFileSync(p, t);
  }
  fs.writeFileSync(path.join(city, 'site.toml'), 'name = { ja = "試験市", en = "Test City" }\n');
  chizu('check', '--strict', '--root', city);
  ({ server, publicUrl } = await startServer(city));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('a root made from nothing serves a titled, styled map on the data with a full legend', async () => {
  assert.ok(!fs.existsSync(path.join(city, 'web')) && !fs.existsSync(path.join(city, 'styles')), 'only layers/ and data/');
  const style = await (await fetch(`${publicUrl}/styles/public.json`)).json();
  assertValidStyle(style, 'generated style');
  const cat = await (await fetch(`${publicUrl}/catalog`)).json();
  const { page, errors, foreign } = await openPage(browser, `${publicUrl}/`);
  await mapReady(page);
  assert.equal(await page.title(), '試験市 ハザードマップ');
  assert.equal(await page.locator('h1').innerText(), '試験市 ハザードマップ');
  // The default view lies on the data.
  const c = await page.evaluate(() => window.chizuMap.getCenter().toArray());
  const [w, s, e, n] = cat.site.bounds;
  assert.ok(c[0] > w && c[0] < e && c[1] > s && c[1] < n, `centre ${c} within ${cat.site.bounds}`);
  // Not blank.
  const shot = await page.locator('#map').screenshot({ path: path.join(ART, 'newcity-phone.png') });
  assert.ok(colourCount(PNG.sync.read(shot)) > 8, 'the map draws something');
  // A legend entry for every layer drawn.
  await page.evaluate(() => { document.querySelectorAll('details').forEach((d) => { d.open = true; }); });
  const drawn = await drawnLayerIds(page);
  const legend = await legendLayerIds(page);
  assert.ok(drawn.length >= 3, `layers drawn: ${drawn}`);
  assert.deepEqual(legend, drawn);
  await page.screenshot({ path: path.join(ART, 'newcity-panel.png'), fullPage: true });
  // A tap in the city: a report that says what this data cannot tell.
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.locator('#report .coverage, #report .outside').first().waitFor({ timeout: 20000 });
  await axe(page, 'new city');
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await page.close();
});
