// Shared set-up of the browser tests: a live `chizu serve` on 127.0.0.1 for a root,
// Debian's Chromium through playwright-core, and checks every test uses.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { validateStyleMin } from '@maplibre/maplibre-gl-style-spec';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.CHIZU_BIN ?? path.join(ROOT, 'target/debug/chizu');
export const ART = path.join(ROOT, 'tests/artifacts');
const AXE = path.join(ROOT, 'node_modules/axe-core/axe.min.js');

/** Starts `chizu serve --root root` on free ports; resolves with both URLs and the process. */
export async function startServer(root, args = []) {
  // Live layers get a state database of their own for each run, never the root's.
  const state = args.includes('--state') ? [] : ['--state', fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-state-'))];
  const server = spawn(BIN, ['serve', '--root', root, '--public', '127.0.0.1:0', '--internal', '127.0.0.1:0', ...state, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = readline.createInterface({ input: server.stderr });
  const log = [];
  let publicUrl;
  let internalUrl;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chizu serve did not start:\n${log.join('\n')}`)), 90000);
    server.on('exit', (code) => reject(new Error(`chizu serve exited ${code}:\n${log.join('\n')}`)));
    lines.on('line', (l) => {
      log.push(l);
      const m = l.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m && l.includes('public view')) publicUrl = m[1];
      if (m && l.includes('internal view')) internalUrl = m[1];
      if (publicUrl && internalUrl) { clearTimeout(timer); resolve(); }
    });
  });
  return { server, publicUrl, internalUrl, log };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
}

/** A page (phone-sized by default) that records console errors and requests to other hosts. */
export async function openPage(browser, url, viewport = { width: 360, height: 640 }, locale = 'ja-JP') {
  const page = await browser.newPage({ viewport, locale });
  const errors = [];
  const foreign = [];
  const host = new URL(url).host;
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).host !== host) foreign.push(u);
  });
  await page.goto(url);
  return { page, errors, foreign };
}

export async function mapReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60000 });
  await page.waitForFunction(() => window.chizuMap.loaded() && window.chizuMap.areTilesLoaded(), null, { timeout: 60000 });
  await page.waitForTimeout(500);
}

export async function axe(page, name) {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`), [], `${name}: axe found serious or critical violations`);
}

/** The MapLibre style spec's own validator (what gl-style-validate runs) finds nothing. */
export function assertValidStyle(style, name) {
  const errors = validateStyleMin(style).map((e) => e.message);
  assert.deepEqual(errors, [], `${name}: invalid MapLibre style`);
}

/** Distinct colours (rounded) in a PNG screenshot: a blank map has one or two. */
export function colourCount(png) {
  const seen = new Set();
  for (let i = 0; i < png.data.length; i += 16) seen.add(`${png.data[i] >> 4},${png.data[i + 1] >> 4},${png.data[i + 2] >> 4}`);
  return seen.size;
}

/** The chizu layers the map draws now (any of their style layers visible), sorted. */
export function drawnLayerIds(page) {
  return page.evaluate(() => {
    const m = window.chizuMap;
    const ids = new Set();
    for (const l of m.getStyle().layers) {
      const id = l.metadata?.['chizu:layer'];
      if (id && m.getLayoutProperty(l.id, 'visibility') !== 'none') ids.add(id);
    }
    return [...ids].sort();
  });
}

/** The layers the legend lists, sorted. */
export async function legendLayerIds(page) {
  return (await page.locator('#legend .legend-layer').evaluateAll((els) => els.map((x) => x.dataset.layer))).sort();
}
