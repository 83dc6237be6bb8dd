// MapLibre Tiles (.mlt) against MVT, on the sample city: every tile of a z12–z15 sweep is
// decoded by an independent MLT reader (@maplibre/mlt, the reference TypeScript decoder)
// and matches the MVT of the same tile decoded by @mapbox/vector-tile — layers, features,
// attributes, geometry; and MapLibre GL JS in Chromium draws the same features from
// `?encoding=mlt` as from MVT, asking only for .mlt tiles.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import Pbf from 'pbf';
import { register } from 'node:module';
import { ROOT, ART, startServer, launchBrowser, openPage, mapReady } from './support.mjs';

// The reference decoder's ESM needs its imports completed (see esm-extensions.mjs).
register('./esm-extensions.mjs', import.meta.url);
const { decodeTile } = await import('@maplibre/mlt');

let server;
let publicUrl;
let browser;

before(async () => {
  ({ server, publicUrl } = await startServer(ROOT));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

const tileOf = (lon, lat, z) => {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return [Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)];
};

const norm = (v) => (typeof v === 'bigint' ? Number(v) : v);

test('every .mlt tile decodes with the reference reader to what the .mvt of the same tile holds', async () => {
  const catalog = await (await fetch(`${publicUrl}/catalog`)).json();
  const ids = catalog.layers.filter((l) => !l.live).map((l) => l.id).join(',');
  const centre = catalog.site.view?.center ?? [(catalog.site.bounds[0] + catalog.site.bounds[2]) / 2, (catalog.site.bounds[1] + catalog.site.bounds[3]) / 2];
  let tiles = 0;
  let features = 0;
  for (const z of [12, 13, 14, 15]) {
    const [cx, cy] = tileOf(centre[0], centre[1], z);
    for (let dx = -1; dx <= 1; dx += 1) {
      for (let dy = -1; dy <= 1; dy += 1) {
        const url = `${publicUrl}/tiles/${ids}/${z}/${cx + dx}/${cy + dy}`;
        const [mvtR, mltR] = await Promise.all([fetch(`${url}.mvt`), fetch(`${url}.mlt`)]);
        assert.equal(mltR.status, mvtR.status, url);
        if (mvtR.status === 204) continue;
        assert.equal(mltR.headers.get('content-type'), 'application/vnd.maplibre-tile');
        const mvt = new VectorTile(new Pbf(new Uint8Array(await mvtR.arrayBuffer())));
        const mlt = decodeTile(new Uint8Array(await mltR.arrayBuffer()));
        assert.deepEqual(mlt.map((t) => t.name).sort(), Object.keys(mvt.layers).sort(), url);
        for (const table of mlt) {
          const layer = mvt.layers[table.name];
          const got = table.getFeatures();
          assert.equal(got.length, layer.length, `${url} ${table.name}`);
          assert.equal(table.extent, layer.extent);
          // Same features by id (MLT may order them otherwise): same attributes, same first vertex.
          const byId = new Map(got.map((f) => [norm(f.id), f]));
          for (let i = 0; i < layer.length; i += 1) {
            const want = layer.feature(i);
            const f = byId.get(want.id);
            assert.ok(f, `${url} ${table.name} #${want.id} missing`);
            const props = Object.fromEntries(Object.entries(f.properties).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, norm(v)]));
            assert.deepEqual(props, { ...want.properties }, `${url} ${table.name} #${want.id}`);
            const first = want.loadGeometry()[0][0];
            let g = f.geometry.coordinates;
            while (Array.isArray(g)) g = g[0];
            assert.deepEqual([g.x, g.y], [first.x, first.y], `${url} ${table.name} #${want.id} geometry`);
            // And as many vertices.
            const count = (c) => (Array.isArray(c) ? c.reduce((n, x) => n + count(x), 0) : 1);
            assert.equal(count(f.geometry.coordinates), want.loadGeometry().reduce((n, r) => n + r.length, 0), `${url} ${table.name} #${want.id} vertices`);
            features += 1;
          }
        }
        tiles += 1;
      }
    }
  }
  assert.ok(tiles >= 20 && features > 1000, `${tiles} tiles, ${features} features`);
  console.log(`MLT = MVT: ${tiles} tiles, ${features} features compared`);
});

/** What MapLibre drew, per source layer: feature count and attribute names. */
const drawn = (page) => page.evaluate(() => {
  const out = {};
  for (const f of window.chizuMap.queryRenderedFeatures()) {
    const k = f.sourceLayer;
    out[k] ??= { n: 0, keys: new Set() };
    out[k].n += 1;
    for (const p of Object.keys(f.properties)) out[k].keys.add(p);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { n: v.n, keys: [...v.keys].sort() }]));
});

test('the public map drawn from MapLibre Tiles shows what it shows from MVT', async () => {
  const at = '#15/34.8662/138.3182';
  const mvtPage = await openPage(browser, `${publicUrl}/${at}`, { width: 1280, height: 800 });
  await mapReady(mvtPage.page);
  const fromMvt = await drawn(mvtPage.page);
  await mvtPage.page.close();

  const { page, errors } = await openPage(browser, `${publicUrl}/?encoding=mlt${at}`, { width: 1280, height: 800 });
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/tiles/')) asked.push(r.url()); });
  await mapReady(page);
  const fromMlt = await drawn(page);
  await page.screenshot({ path: path.join(ART, 'mlt-public-1280.png') });
  assert.ok(Object.keys(fromMvt).length >= 3, JSON.stringify(fromMvt));
  assert.deepEqual(fromMlt, fromMvt);
  assert.ok(asked.length > 0 && asked.every((u) => u.includes('.mlt')), asked.join('\n'));
  assert.deepEqual(errors, []);
  await page.close();
});
