// Live maps in headless Chromium against a live `chizu serve`: an incident that staff put
// on the map through the editing API (OGC API – Features Part 4) appears on the open public
// map without a reload once it is published, and leaves it when unpublished; the staff map
// shows it before publication.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { PNG } from 'pngjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, BIN, ART, startServer, launchBrowser, openPage, mapReady, axe } from './support.mjs';

let server;
let publicUrl;
let internalUrl;
let key;
let gaugeKey;
let browser;
let tmp;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-live-'));
  const keys = path.join(tmp, 'keys.toml');
  key = execFileSync(BIN, ['keys', 'add', 'kiki-test', '--role', 'kiki-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  gaugeKey = execFileSync(BIN, ['keys', 'add', 'gauge-gateway', '--role', 'sensor', '--keys', keys], { encoding: 'utf8' }).trim();
  ({ server, publicUrl, internalUrl } = await startServer(ROOT, ['--keys', keys, '--state', path.join(tmp, 'state')]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const api = (method, p, body, ifMatch) => fetch(`${internalUrl}${p}`, {
  method,
  headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/geo+json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
  body: body && JSON.stringify(body),
});

/** Notes of the live layer's features drawn on the page's map. */
const drawnNotes = (page) => page.evaluate(() => {
  const map = window.chizuMap;
  const ids = map.getStyle().layers.filter((l) => l['source-layer'] === 'saigai_houkoku').map((l) => l.id);
  return map.queryRenderedFeatures(undefined, { layers: ids }).map((f) => f.properties.note);
});

async function waitFor(page, what, want, read = drawnNotes) { // read: what the map shows
  const started = Date.now();
  for (;;) {
    const got = await read(page);
    if (want(got)) return Date.now() - started;
    assert.ok(Date.now() - started < 10000, `${what}: map shows ${JSON.stringify(got)}`);
    await page.waitForTimeout(50);
  }
}

test('a published incident appears on the open public map without a reload, and leaves when unpublished', async () => {
  const { page, errors } = await openPage(browser, `${publicUrl}/#15/34.866/138.318`, { width: 1280, height: 800 });
  await mapReady(page);
  assert.deepEqual(await drawnNotes(page), []);

  const created = await api('POST', '/collections/saigai_houkoku/items', {
    type: 'Feature', geometry: { type: 'Point', coordinates: [138.318, 34.866] },
    properties: { kind: '冠水', note: '駅南 道路冠水 30cm', staff_memo: '内線 2200' },
  });
  assert.equal(created.status, 201);
  const id = (await created.json()).id;
  // Unpublished: the public map must not show it.
  await page.waitForTimeout(800);
  assert.deepEqual(await drawnNotes(page), []);

  const t0 = Date.now();
  const pub = await api('PATCH', `/collections/saigai_houkoku/items/${id}`, { type: 'Feature', properties: { public: true } }, '"1"');
  assert.equal(pub.status, 200);
  await waitFor(page, 'published', (n) => n.includes('駅南 道路冠水 30cm'));
  const shownMs = Date.now() - t0;
  await page.screenshot({ path: path.join(ART, 'live-public-1280.png') });
  console.log(`published → drawn on the public map: ${shownMs} ms`);

  const unpub = await api('PATCH', `/collections/saigai_houkoku/items/${id}`, { type: 'Feature', properties: { public: false } }, '"2"');
  assert.equal(unpub.status, 200);
  await waitFor(page, 'unpublished', (n) => n.length === 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('staff add a report on the map with a form made from the schema, see who changed it, and are told when someone else changed it first', async () => {
  const { page, errors } = await openPage(browser, `${internalUrl}/#16/34.86/138.30`, { width: 1280, height: 900 });
  await page.locator('#login').waitFor();
  await page.fill('#key', key);
  await page.click('#login button');
  await mapReady(page);
  await page.locator('#edit-box summary').click();
  // The form is made from the layer's schema: kind's values, a checkbox for `public`.
  await page.click('#edit-add');
  const box = await page.locator('#map canvas').boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.locator('#edit-form').waitFor();
  const options = await page.$$eval('#f-kind option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.deepEqual(options.sort(), ['その他', '倒木', '冠水', '土砂崩れ', '通行止め'].sort());
  assert.equal(await page.locator('#f-public').getAttribute('type'), 'checkbox');
  assert.equal(await page.locator('#f-updated_by').count(), 0, 'chizu sets who changed it');
  await page.selectOption('#f-kind', '倒木');
  await page.fill('#f-note', '市道で倒木、片側通行');
  await page.click('#edit-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('保存しました'));
  const items = await (await api('GET', '/collections/saigai_houkoku/items?note=%E5%B8%82%E9%81%93%E3%81%A7%E5%80%92%E6%9C%A8%E3%80%81%E7%89%87%E5%81%B4%E9%80%9A%E8%A1%8C')).json();
  assert.equal(items.numberMatched, 1);
  const feature = items.features[0];
  assert.equal(feature.properties.updated_by, 'kiki-test');
  // It appears on the staff map (unpublished: staff only) without a reload.
  await waitFor(page, 'added', (n) => n.includes('市道で倒木、片側通行'));
  await page.screenshot({ path: path.join(ART, 'live-staff-1280.png') });

  // Clicking it opens it, with who changed it last (where it is drawn now).
  const at = await page.evaluate((c) => window.chizuMap.project(c), feature.geometry.coordinates);
  await page.mouse.click(box.x + at.x, box.y + at.y);
  await page.waitForFunction(() => document.querySelector('#edit-form h3')?.textContent.includes('#'));
  assert.match(await page.locator('#edit-form .hint').textContent(), /kiki-test/);
  // Someone else saves first; this editor is told, and shown the current version.
  const other = await api('PATCH', `/collections/saigai_houkoku/items/${feature.id}`, { type: 'Feature', properties: { note: '撤去済み' } }, '"1"');
  assert.equal(other.status, 200);
  await page.fill('#f-note', '通行止めに変更');
  await page.click('#edit-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('ほかの人が先に変更しました'));
  assert.equal(await page.inputValue('#f-note'), '撤去済み');
  const now = await (await api('GET', `/collections/saigai_houkoku/items/${feature.id}`)).json();
  assert.equal(now.properties.note, '撤去済み', 'the other edit was not overwritten');

  // The report was put in the wrong place: moved with one click on the map, then saved.
  await page.click('#edit-reshape');
  assert.ok(await page.locator('#edit-form').isHidden(), 'the form waits while the new place is chosen');
  assert.match(await page.locator('#edit-status').textContent(), /新しい位置/);
  await page.mouse.click(box.x + at.x + 120, box.y + at.y - 80);
  await page.locator('#edit-form').waitFor();
  assert.equal(await page.inputValue('#f-note'), '撤去済み', 'what the form held is kept');
  assert.match(await page.locator('#edit-status').textContent(), /保存」で確定/);
  await page.screenshot({ path: path.join(ART, 'live-move-1280.png') });
  await page.click('#edit-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('保存しました'));
  const moved = await (await api('GET', `/collections/saigai_houkoku/items/${feature.id}`)).json();
  const want = await page.evaluate(([x, y]) => window.chizuMap.unproject([x, y]).toArray(), [at.x + 120, at.y - 80]);
  assert.ok(Math.abs(moved.geometry.coordinates[0] - want[0]) < 1e-5 && Math.abs(moved.geometry.coordinates[1] - want[1]) < 1e-5,
    `moved to ${JSON.stringify(moved.geometry.coordinates)}, clicked ${JSON.stringify(want)}`);
  assert.equal(moved.properties.note, '撤去済み');
  const history = await (await api('GET', `/collections/saigai_houkoku/items/${feature.id}/history`)).json();
  const last = history.changes.at(-1);
  assert.deepEqual(last.after.geometry, moved.geometry, `the move is in the history: ${JSON.stringify(last)}`);
  assert.deepEqual(last.before.geometry, feature.geometry);
  // It is drawn at its new place (and no longer at the old one) without a reload.
  await page.waitForFunction(([x, y]) => {
    const map = window.chizuMap;
    const ids = map.getStyle().layers.filter((l) => l['source-layer'] === 'saigai_houkoku').map((l) => l.id);
    const near = (px, py) => map.queryRenderedFeatures([[px - 6, py - 6], [px + 6, py + 6]], { layers: ids }).length;
    return near(x + 120, y - 80) > 0 && near(x, y) === 0;
  }, [at.x, at.y], { timeout: 10000 });
  assert.deepEqual(errors.filter((e) => !e.includes('412')), []);
  await page.close();
});

test('a resident tells the city of a problem from the phone map: it waits for staff and is never shown publicly until published', async () => {
  const { page, errors } = await openPage(browser, `${publicUrl}/#16/34.8662/138.3182`);
  await mapReady(page);
  // Asking about the point first: the form is under the report, for that point.
  await page.click('#centre');
  await page.locator('#report-heading').waitFor();
  await page.locator('.tell-box summary').click();
  const kinds = await page.$$eval('#tell-kind option', (os) => os.map((o) => o.textContent));
  assert.equal(kinds[0], '選んでください');
  assert.equal(kinds.at(-1), 'その他', '「その他」 comes last');
  assert.ok(kinds.includes('冠水') && kinds.includes('倒木'), kinds.join(','));
  assert.match(await page.locator('.tell .urgent').textContent(), /119番/);
  // Nothing chosen: the browser asks for a kind before anything is sent.
  await page.click('.tell button[type=submit]');
  assert.equal(await page.locator('.tell-status').textContent(), '');
  await page.selectOption('#tell-kind', '冠水');
  await page.fill('#tell-text', '交差点が冠水、車が通れません');
  assert.match(await page.locator('#tell-left').textContent(), /あと\d+文字/);
  await page.screenshot({ path: path.join(ART, 'tell-public-360.png'), fullPage: false });
  await page.click('.tell button[type=submit]');
  await page.waitForFunction(() => document.querySelector('.tell-status').textContent.includes('受け付けました'));
  assert.ok(await page.locator('#tell-kind').isDisabled(), 'sent once; the form is done');
  await axe(page, 'resident report form');

  // Staff see it, unpublished, at the map centre; the public does not.
  const staff = await (await api('GET', '/collections/saigai_houkoku/items?limit=100')).json();
  const mine = staff.features.filter((f) => f.properties.note === '交差点が冠水、車が通れません');
  assert.equal(mine.length, 1);
  assert.equal(mine[0].properties.public, false);
  assert.equal(mine[0].properties.kind, '冠水');
  const [lon, lat] = mine[0].geometry.coordinates;
  assert.ok(Math.abs(lon - 138.3182) < 0.001 && Math.abs(lat - 34.8662) < 0.001, `${lon},${lat}`);
  const pub = await (await fetch(`${publicUrl}/collections/saigai_houkoku/items?limit=100`)).json();
  assert.ok(!JSON.stringify(pub).includes('交差点が冠水'), 'not public before publication');
  assert.deepEqual(errors, []);
  await page.close();
});

test('staff draw a road closure as a line and a closed area as a polygon, vertex by vertex, and save them', async () => {
  // A root of another shape: two live layers, a line and an area, and nothing else.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-draw-'));
  fs.mkdirSync(path.join(root, 'layers'));
  const layer = (geometry, ja, en) => `kind = "live"
title = { ja = "${ja}", en = "${en}" }
category = "douro"
geometry = "${geometry}"
access = { view = "internal", roles = ["kiki-kanri"] }
edit = { create = ["kiki-kanri"], update = ["kiki-kanri"], delete = ["kiki-kanri"] }

[[field]]
name = "reason"
type = "string"
required = true
label = { ja = "理由", en = "Reason" }
values = { "冠水" = { ja = "冠水", en = "Flooding" }, "土砂" = { ja = "土砂", en = "Debris" } }
`;
  fs.writeFileSync(path.join(root, 'layers', 'kisei_sen.toml'), layer('line', '通行止め区間', 'Closed sections'));
  fs.writeFileSync(path.join(root, 'layers', 'kisei_kuiki.toml'), layer('polygon', '立入規制区域', 'No-entry areas'));
  const keys = path.join(root, 'keys.toml');
  const k = execFileSync(BIN, ['keys', 'add', 'hq', '--role', 'kiki-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  const srv = await startServer(root, ['--keys', keys]);
  const call = (p) => fetch(`${srv.internalUrl}${p}`, { headers: { Authorization: `Bearer ${k}` } }).then((r) => r.json());
  try {
    const { page, errors } = await openPage(browser, `${srv.internalUrl}/#15/34.86/138.30`, { width: 1280, height: 900 });
    await page.locator('#login').waitFor();
    await page.fill('#key', k);
    await page.click('#login button');
    await mapReady(page);
    await page.locator('#edit-box summary').click();
    const box = await page.locator('#map canvas').boundingBox();
    const at = (dx, dy) => page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);

    for (const [id, kind, clicks, reason] of [
      ['kisei_sen', 'LineString', [[-120, 0], [0, -40], [120, 0]], '冠水'],
      ['kisei_kuiki', 'Polygon', [[-80, -80], [80, -80], [80, 80], [-80, 80]], '土砂'],
    ]) {
      await page.selectOption('#edit-layer', id);
      await page.click('#edit-add');
      assert.match(await page.locator('#edit-status').textContent(), /順にクリック/);
      // Too few points: Finish says how many it needs and keeps drawing.
      await at(...clicks[0]);
      await page.click('#edit-finish');
      assert.match(await page.locator('#edit-status').textContent(), /以上が必要/);
      assert.ok(await page.locator('#edit-form').isHidden());
      // A wrong click undone, then the rest.
      await at(300, 300);
      await page.click('#edit-undo');
      for (const c of clicks.slice(1)) await at(...c);
      await page.click('#edit-finish');
      await page.locator('#edit-form').waitFor();
      await page.selectOption('#f-reason', reason);
      if (kind === 'Polygon') await page.screenshot({ path: path.join(ART, 'live-draw-polygon-1280.png') });
      await page.click('#edit-form button[type=submit]');
      await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('保存しました'));
      const fc = await call(`/collections/${id}/items`);
      assert.equal(fc.numberMatched, 1, JSON.stringify(fc));
      const g = fc.features[0].geometry;
      assert.equal(g.type, kind);
      const ring = kind === 'Polygon' ? g.coordinates[0] : g.coordinates;
      assert.equal(ring.length, kind === 'Polygon' ? clicks.length + 1 : clicks.length, JSON.stringify(g));
      assert.equal(fc.features[0].properties.reason, reason);
    }
    // The area was drawn too big: clicked inside, redrawn as a triangle, saved.
    await page.mouse.click(box.x + box.width / 2 + 40, box.y + box.height / 2 + 40);
    await page.waitForFunction(() => document.querySelector('#edit-form h3')?.textContent.includes('立入規制区域'));
    assert.equal(await page.locator('#edit-reshape').textContent(), '形を描き直す');
    await page.click('#edit-reshape');
    assert.match(await page.locator('#edit-status').textContent(), /順にクリック/);
    for (const c of [[-40, -40], [40, -40], [0, 40]]) await at(...c);
    await page.click('#edit-finish');
    await page.locator('#edit-form').waitFor();
    assert.equal(await page.inputValue('#f-reason'), '土砂');
    await page.click('#edit-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('保存しました'));
    const area = (await call('/collections/kisei_kuiki/items')).features[0];
    assert.equal(area.geometry.coordinates[0].length, 4, JSON.stringify(area.geometry));
    // Redrawing given up keeps the shape as it was.
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForFunction(() => document.querySelector('#edit-form h3')?.textContent.includes('立入規制区域'));
    await page.click('#edit-reshape');
    await at(-60, -60);
    await page.click('#edit-stop');
    await page.locator('#edit-form').waitFor();
    await page.click('#edit-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('edit-status').textContent.includes('保存しました'));
    const kept = (await call('/collections/kisei_kuiki/items')).features[0];
    assert.deepEqual(kept.geometry, area.geometry);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    srv.server.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a river gauge is drawn in the colour of the level its latest reading reached, the legend lists the levels lowest first, and a silent gauge turns grey', async () => {
  // A station of the test's own (its thresholds are not the city's figures).
  const created = await api('POST', '/collections/suii_kansoku/items', {
    type: 'Feature', geometry: { type: 'Point', coordinates: [138.3100, 34.8700] },
    properties: { name: '試験観測所', river: '試験川', level_taiki: 1.0, level_chuui: 2.0, level_hinan: 3.0, level_kiken: 4.0 },
  });
  assert.equal(created.status, 201);
  const id = (await created.json()).id;
  const post = (body) => fetch(`${internalUrl}/collections/suii_kansoku/items/${id}/readings`, {
    method: 'POST', headers: { Authorization: `Bearer ${gaugeKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal((await post({ time: new Date().toISOString(), value: 3.4 })).status, 200);

  const { page, errors } = await openPage(browser, `${publicUrl}/#17/34.8700/138.3100`);
  await mapReady(page);
  const gauge = () => page.evaluate(() => {
    const map = window.chizuMap;
    const ids = map.getStyle().layers.filter((l) => l['source-layer'] === 'suii_kansoku').map((l) => l.id);
    return map.queryRenderedFeatures(undefined, { layers: ids }).map((f) => f.properties)[0] ?? null;
  });
  await waitFor(page, 'gauge drawn', (g) => g?.reading_level === 'level_hinan', gauge);
  // The pixels at the gauge: the 避難判断水位 orange (#e65100), not the plain blue.
  const colourAt = async () => {
    const p = await page.evaluate(() => window.chizuMap.project([138.3100, 34.8700]));
    const box = await page.locator('#map').boundingBox();
    const png = PNG.sync.read(await page.screenshot({ clip: { x: box.x + p.x - 2, y: box.y + p.y - 2, width: 5, height: 5 } }));
    const i = (2 * 5 + 2) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  const near = ([r, g, b], [R, G, B]) => Math.abs(r - R) + Math.abs(g - G) + Math.abs(b - B) < 40;
  assert.ok(near(await colourAt(), [0xe6, 0x51, 0x00]), `drawn ${await colourAt()}`);
  const legend = await page.evaluate(() => document.getElementById('legend').innerText);
  const order = ['基準値未満', '水防団待機水位', '氾濫注意水位', '避難判断水位', '氾濫危険水位', '観測が途絶えている'];
  const at = order.map((w) => legend.indexOf(w));
  assert.ok(at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1])), `legend order: ${legend}`);
  // A resident taps the gauge: its latest reading and level, in words, above the hazards.
  const p = await page.evaluate(() => window.chizuMap.project([138.3100, 34.8700]));
  const mapBox = await page.locator('#map').boundingBox();
  await page.mouse.click(mapBox.x + p.x, mapBox.y + p.y);
  await page.waitForFunction(() => document.querySelector('#report .live-here'));
  const said = await page.locator('#report .live-here').innerText();
  for (const w of ['河川水位（観測所）', '試験観測所', '3.4', '避難判断水位', '観測時刻']) assert.ok(said.includes(w), `${w} in ${said}`);
  await page.screenshot({ path: path.join(ART, 'live-gauge-360.png') });
  // The tapped point's marker off again, so the gauge's own colour shows.
  await page.evaluate(() => window.chizuMap.getSource('report').setData({ type: 'FeatureCollection', features: [] }));

  // A gauge whose latest reading is an hour old (its interval is 20 minutes): grey,
  // although that reading was above 氾濫危険水位.
  const gone = await api('DELETE', `/collections/suii_kansoku/items/${id}`, null, (await api('GET', `/collections/suii_kansoku/items/${id}`)).headers.get('etag'));
  assert.equal(gone.status, 204);
  const old = await api('POST', '/collections/suii_kansoku/items', {
    type: 'Feature', geometry: { type: 'Point', coordinates: [138.3100, 34.8700] },
    properties: { name: '途絶観測所', level_taiki: 1.0, level_chuui: 2.0, level_hinan: 3.0, level_kiken: 4.0 },
  });
  const oldId = (await old.json()).id;
  const hourAgo = new Date(Date.now() - 3600 * 1000).toISOString();
  const r = await fetch(`${internalUrl}/collections/suii_kansoku/items/${oldId}/readings`, {
    method: 'POST', headers: { Authorization: `Bearer ${gaugeKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ time: hourAgo, value: 4.5 }),
  });
  assert.equal(r.status, 200);
  await waitFor(page, 'silent gauge', (g) => g?.name === '途絶観測所' && g?.stale === true, gauge);
  await page.waitForTimeout(300);
  assert.ok(near(await colourAt(), [0x9e, 0x9e, 0x9e]), `silent gauge drawn ${await colourAt()}`);
  assert.deepEqual(errors, []);
  await page.close();
});
