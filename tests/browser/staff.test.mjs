// The staff map's tools in headless Chromium against a live `chizu serve`: the attribute
// table (filter, sort, paging, map ↔ row, exports with the key), measuring (checked against
// PROJ's `geod` and the server's own geodesic area), the lot report for a drawn area, the
// legend of what is drawn, and printing at scale to PDF (checked with poppler's pdftoppm).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { ROOT, BIN, ART, startServer, launchBrowser, openPage, mapReady, axe, colourCount, drawnLayerIds, legendLayerIds } from './support.mjs';

let server;
let internalUrl;
let key;
let browser;
let tmp;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-staff-'));
  const keys = path.join(tmp, 'keys.toml');
  key = execFileSync(BIN, ['keys', 'add', 'toshi-test', '--role', 'toshi-keikaku', '--keys', keys], { encoding: 'utf8' }).trim();
  ({ server, internalUrl } = await startServer(ROOT, ['--keys', keys]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function signIn(viewport = { width: 1280, height: 900 }) {
  const opened = await openPage(browser, `${internalUrl}/#14/34.866/138.318`, viewport);
  await opened.page.locator('#login').waitFor();
  await opened.page.fill('#key', key);
  await opened.page.click('#login button');
  await mapReady(opened.page);
  return opened;
}

/** Clicks the map at whole pixels and returns the lon/lat the map puts there. */
async function clickAt(page, x, y) {
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + x, box.y + y);
  return page.evaluate(([px, py]) => { const l = window.chizuMap.unproject([px, py]); return [l.lng, l.lat]; }, [x, y]);
}

test('the attribute table filters, sorts, pages, links to the map and exports with the key', async () => {
  const { page, errors, foreign } = await signIn();
  await page.locator('#table-box summary').click();
  // Each step waits for the table's own request, so no step reads the rows before.
  const loaded = async (action) => {
    await Promise.all([page.waitForResponse((r) => r.url().includes('/collections/youto_chiiki/items?')), action()]);
    await page.waitForTimeout(200);
  };
  await loaded(() => page.selectOption('#table-layer', 'youto_chiiki'));
  const rows = page.locator('#attr-table tbody tr[data-i]');
  const count = async () => (await page.locator('#table-count').innerText()).trim();
  const all = (await (await fetch(`${internalUrl}/collections/youto_chiiki/items?limit=1`, { headers: { Authorization: `Bearer ${key}` } })).json()).numberMatched;
  assert.ok(all > 50);
  assert.equal(await count(), `${all} 件中 1–50 件`, 'every zone, paged by 50');
  await loaded(() => page.click('#table-next'));
  assert.equal(await count(), `${all} 件中 51–${Math.min(100, all)} 件`);
  // Sort by 容積率 descending (two clicks): the first rows carry the highest ratio.
  const header = page.locator('#attr-table thead button', { hasText: '容積率' });
  await loaded(() => header.click());
  await page.locator('#attr-table th[aria-sort="ascending"]').waitFor();
  await loaded(() => header.click());
  await page.locator('#attr-table th[aria-sort="descending"]').waitFor();
  const col = await page.evaluate(() => [...document.querySelectorAll('#attr-table thead th')].findIndex((th) => th.textContent.includes('容積率')));
  const ratios = await page.$$eval(`#attr-table tbody tr td:nth-child(${col + 1})`, (tds) => tds.map((td) => Number(td.textContent)));
  assert.deepEqual(ratios, [...ratios].sort((a, b) => b - a), 'descending');
  // A word filters every text field; a CQL2 condition is sent as written.
  const filterBy = async (text) => {
    await page.fill('#table-filter', text);
    await loaded(() => page.click('#table-form button'));
  };
  await filterBy('商業');
  const zones = await page.$$eval('#attr-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(zones.length > 0 && zones.every((z) => z.includes('商業')), 'only 商業地域 and 近隣商業地域');
  const matched = Number((await count()).split(' ')[0]);
  assert.ok(matched < all);
  await filterBy('floor_area_ratio >= 400 AND zone = \'商業地域\'');
  const strict = Number((await count()).split(' ')[0]);
  assert.ok(strict > 0 && strict < matched, `CQL2 narrows ${matched} to ${strict}`);
  await filterBy('zone = ');
  await page.locator('#table-error').getByText('絞り込みの条件が正しくありません').waitFor();
  await filterBy('商業');
  assert.equal(Number((await count()).split(' ')[0]), matched);

  // Row → map: the feature is highlighted and in view.
  await rows.first().click();
  await page.waitForFunction(() => window.chizuMap.querySourceFeatures('staff-selection').length > 0);
  await page.waitForFunction(() => !window.chizuMap.isMoving());
  const inView = await page.evaluate(() => {
    const m = window.chizuMap;
    const f = m.querySourceFeatures('staff-selection')[0];
    const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
    return ring.every(([lon, lat]) => m.getBounds().contains([lon, lat]));
  });
  assert.ok(inView, 'the chosen zone fits the map');
  await page.screenshot({ path: path.join(ART, 'staff-table.png') });

  // Exports of the filtered rows, fetched with the key.
  const save = async (ext) => {
    const [d] = await Promise.all([page.waitForEvent('download'), page.click(`[data-export="${ext}"]`)]);
    return fs.readFileSync(await d.path());
  };
  const csv = (await save('csv')).toString('utf8');
  assert.equal(csv.trim().split('\r\n').length, matched + 1, 'a header and the filtered rows');
  const gj = JSON.parse((await save('geojson')).toString('utf8'));
  assert.equal(gj.features.length, matched);
  const gpkg = path.join(tmp, 'zones.gpkg');
  fs.writeFileSync(gpkg, await save('gpkg'));
  const info = execFileSync('ogrinfo', ['-ro', '-so', '-al', gpkg], { encoding: 'utf8' });
  assert.match(info, new RegExp(`Feature Count: ${matched}\\b`), 'GDAL reads the same rows from the GeoPackage');

  // Map → row: a zone clicked on the map is marked in the table.
  await filterBy('');
  assert.equal(await count(), `${all} 件中 1–50 件`);
  const target = await page.evaluate(() => {
    const m = window.chizuMap;
    const c = m.getCanvas();
    // Clear of the map's buttons in the corners.
    for (let y = 120; y < c.clientHeight - 60; y += 25) {
      for (let x = 120; x < c.clientWidth - 120; x += 25) {
        const hit = m.queryRenderedFeatures([x, y], { layers: m.getStyle().layers.filter((l) => l.metadata?.['chizu:layer'] === 'youto_chiiki').map((l) => l.id) });
        if (hit.length) return [x, y];
      }
    }
    return null;
  });
  assert.ok(target, 'a zone is on screen');
  await clickAt(page, target[0], target[1]);
  await page.locator('#identify').getByText('用途地域').first().waitFor({ timeout: 20000 });
  await page.waitForFunction(() => window.chizuMap.querySourceFeatures('staff-selection').length > 0);
  // The zone's row is marked when it is on the table's page.
  const chosen = await page.evaluate(() => window.chizuMap.querySourceFeatures('staff-selection')[0].id);
  const onPage = await page.locator(`#attr-table tr[data-id="${chosen}"]`).count();
  assert.equal(await page.locator('#attr-table tr.selected').count(), onPage, 'the clicked zone is the marked row');
  assert.deepEqual(errors.filter((e) => !e.includes('400')), [], 'no errors besides the refused filter');
  assert.deepEqual(foreign, []);
  await axe(page, 'staff table');
  await page.close();
});

test('measuring matches PROJ geod and the server; a drawn area gets its lot report', async () => {
  const { page, errors } = await signIn();
  await page.evaluate(() => window.chizuMap.jumpTo({ center: [138.318, 34.866], zoom: 14 }));
  await mapReady(page);
  await page.locator('#tools-box summary').click();
  await page.click('[data-tool="line"]');
  const a = await clickAt(page, 120, 150);
  const b = await clickAt(page, 700, 520);
  await page.click('#draw-finish');
  const text = await page.locator('#measure-out').innerText();
  const shown = Number(text.match(/([\d.]+) km/)[1]) * 1000;
  // PROJ's geodesic (Karney) on WGS 84, independent of the page's Vincenty.
  const geod = execFileSync('geod', ['-I', '+ellps=WGS84', '-f', '%.4f'], { input: `${a[1]} ${a[0]} ${b[1]} ${b[0]}\n`, encoding: 'utf8' });
  const truth = Number(geod.trim().split(/\s+/)[2]);
  assert.ok(Math.abs(shown - truth) / truth < 0.005, `distance ${shown} m vs geod ${truth} m`);

  // Area: the page's own figure against the server's geodesic area of the same polygon.
  await page.click('[data-tool="lot"]');
  const pts = [];
  for (const [x, y] of [[300, 200], [620, 230], [650, 560], [330, 520]]) pts.push(await clickAt(page, x, y));
  await page.click('#draw-finish');
  const lot = page.locator('#lot-out');
  await lot.getByText('描いた範囲の土地の情報').waitFor({ timeout: 20000 });
  const lotText = await lot.innerText();
  assert.match(lotText, /用途地域/, 'the zoning under the drawn area');
  assert.match(lotText, /\d+\.\d %/, 'with the share of the area');
  const server = await (await fetch(`${internalUrl}/land`, {
    method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/geo+json' },
    body: JSON.stringify({ type: 'Polygon', coordinates: [[...pts, pts[0]]] }),
  })).json();
  // The module the page loaded (its versioned URL), not a second copy of it.
  const pageArea = await page.evaluate(async (ring) => (await import(document.querySelector('script[src*="staff.js"]').src)).geodesicArea(ring), [...pts, pts[0]]);
  assert.equal(await page.locator('#tools-box').count(), 1, 'the tools are set up once');
  assert.ok(Math.abs(pageArea - server.area_m2) / server.area_m2 < 0.005, `area ${pageArea} vs server ${server.area_m2}`);
  const [csv] = await Promise.all([page.waitForEvent('download'), lot.locator('[data-lot="csv"]').click()]);
  assert.match(fs.readFileSync(await csv.path(), 'utf8'), /^layer,layer_title,feature_id,area_m2,share_pct/);
  await page.screenshot({ path: path.join(ART, 'staff-lot.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the staff legend lists exactly the layers drawn', async () => {
  const { page } = await signIn();
  const legendIds = () => legendLayerIds(page);
  const drawnIds = () => drawnLayerIds(page);
  assert.deepEqual(await legendIds(), await drawnIds());
  assert.ok((await legendIds()).includes('youto_chiiki'), 'the zoning is drawn and in the legend');
  const zoning = await page.locator('#legend [data-layer="youto_chiiki"]').textContent();
  assert.match(zoning, /商業地域/);
  // Turning a layer off takes it out of the legend.
  await page.locator('#toggles label', { hasText: '用途地域' }).locator('input').uncheck();
  assert.deepEqual(await legendIds(), await drawnIds());
  assert.ok(!(await legendIds()).includes('youto_chiiki'));
  await page.locator('#toggles label', { hasText: '用途地域' }).locator('input').check();
  await page.close();
});

test('printing at 1:5,000 on A4 gives a PDF with the map and a true scale bar', async () => {
  const { page, errors } = await signIn();
  await page.evaluate(() => window.chizuMap.jumpTo({ center: [138.318, 34.866], zoom: 15 }));
  await mapReady(page);
  await page.locator('#tools-box summary').click();
  await page.selectOption('#print-paper', 'A4');
  await page.selectOption('#print-orientation', 'portrait');
  await page.selectOption('#print-scale', '5000');
  await page.fill('#print-title', '用途地域の確認');
  await page.evaluate(() => { window.print = () => { document.body.dataset.printed = 'true'; }; });
  await page.click('#print-go');
  await page.waitForFunction(() => document.body.dataset.printed === 'true', null, { timeout: 60000 });
  const metres = Number(await page.locator('#print-scale-bar').getAttribute('data-metres'));
  const pdfPath = path.join(ART, 'staff-print.pdf');
  await page.pdf({ path: pdfPath, preferCSSPageSize: true, printBackground: true });
  const info = execFileSync('pdfinfo', [pdfPath], { encoding: 'utf8' });
  assert.match(info, /Pages:\s+1\b/, 'one page');
  assert.match(info, /Page size:\s+59[45]\.\d+ x 84[12]\.\d+ pts \(A4\)/, 'A4 portrait');
  const dpi = 100;
  execFileSync('pdftoppm', ['-r', String(dpi), '-png', '-singlefile', pdfPath, path.join(tmp, 'print')]);
  const png = PNG.sync.read(fs.readFileSync(path.join(tmp, 'print.png')));
  fs.copyFileSync(path.join(tmp, 'print.png'), path.join(ART, 'staff-print.png'));
  const mm = dpi / 25.4;
  // The map: from the margin and header down to the footer (see staff.js), not blank.
  const crop = (x0, y0, x1, y1) => {
    const out = new PNG({ width: x1 - x0, height: y1 - y0 });
    for (let y = y0; y < y1; y += 1) png.data.copy(out.data, (y - y0) * out.width * 4, (y * png.width + x0) * 4, (y * png.width + x1) * 4);
    return out;
  };
  const mapBox = crop(Math.round(15 * mm), Math.round(30 * mm), Math.round(195 * mm), Math.round(230 * mm));
  assert.ok(colourCount(mapBox) > 20, `the printed map is not blank (${colourCount(mapBox)} colours)`);
  // The scale bar: the longest run of black in the footer is the bar, and its length on
  // paper is the chosen scale's.
  let longest = 0;
  for (let y = Math.round(245 * mm); y < png.height - Math.round(10 * mm); y += 1) {
    let run = 0;
    for (let x = 0; x < png.width; x += 1) {
      const i = (y * png.width + x) * 4;
      run = png.data[i] < 60 && png.data[i + 1] < 60 && png.data[i + 2] < 60 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
  }
  const expected = ((metres * 1000) / 5000) * mm;
  assert.ok(Math.abs(longest - expected) <= 3, `scale bar ${longest} px, expected ${expected.toFixed(1)} px for ${metres} m at 1:5,000`);
  assert.deepEqual(errors, []);
  await page.close();
});
