// chizu map viewer: the public hazard map (公開型GIS) and the staff map (統合型GIS).
// Everything is fetched from the server that served this page; nothing from elsewhere.
import * as maplibregl from '/web/vendor/maplibre-gl/maplibre-gl.mjs';

const VIEW = document.body.dataset.view; // "public" | "internal"
// `?embed=map`: the map alone, for an iframe on another site.
if (new URLSearchParams(location.search).get('embed') === 'map') document.body.classList.add('map-only');
const KEY_STORE = 'chizu.key';

const TEXT = {
  ja: {
    title: 'ハザードマップ', staffTitle: '統合型GIS（職員用）', searchLabel: '町名や避難所名で探す',
    searchPlaceholder: '町名・避難所名', searchButton: '検索', locate: '現在地', panelTitle: '情報',
    hint: '地図をタップするか、町名で検索すると、その地点の洪水・土砂災害などの指定区域と近くの避難先を表示します。',
    layers: '表示する情報', layerTree: 'レイヤー', legend: '凡例', embed: 'この地図を埋め込む',
    embedHelp: '次のコードをウェブページに貼り付けてください。', logout: 'ログアウト',
    keyLabel: 'APIキー（管理者から受け取ったもの）', keyButton: '開く', keyWrong: 'キーが正しくないか、取り消されています。',
    mapLabel: '地図。地図をタップするとその地点のハザード情報を表示します。',
    staffMapLabel: '地図。クリックした地物の属性とその地点のハザード情報を表示します。',
    loading: '調べています…', mapLoading: '地図を読み込んでいます…', failed: '情報を取得できませんでした。通信状態を確認してください。',
    shelters: '近くの避難先', opens: 'この災害のときに開設', mayNotOpen: 'この災害のときは開設されない場合があります',
    noResults: '見つかりませんでした。', locating: '現在地を調べています…', noLocation: '現在地を取得できませんでした。',
    features: 'クリックした地物', langButton: 'English', langCode: 'en',
    land: 'この地点の土地の情報', landPrint: '印刷用を開く', landCsv: 'CSVで保存', keyRevoked: 'キーが取り消されたか期限が切れました。もう一度キーを入力してください。',
    skip: '地図を飛ばして情報へ', centre: '地図の中心を調べる', more: 'もっと見る',
    zoomIn: '拡大', zoomOut: '縮小', outside: 'データの範囲外', check: '確認できる場所', legendEmpty: '表示中の情報はありません。',
    tell: 'この地点の異常を市に知らせる', tellHelp: '道路の冠水や倒木など、この地点で見た異常を市に知らせます。職員が確認してから地図に載ります。',
    tellUrgent: '命に関わるときや火事・けが人は、119番（消防・救急）か110番（警察）に電話してください。',
    tellSend: '送信する', tellSending: '送信しています…', tellChoose: '選んでください', tellFailed: '送信できませんでした。通信状態を確認して、もう一度送ってください。',
    liveHere: 'この地点の最新情報', yes: 'はい', no: 'いいえ',
    tellWhere: '知らせる地点', tellLeft: (n) => `あと${n}文字`, tellTooMany: '1時間に送れる数を超えました。急ぐときは市役所に電話してください。',
    tellInvalid: '送れませんでした。種類を選び、内容を確かめてください。',
  },
  en: {
    title: 'Hazard map', staffTitle: 'Staff GIS', searchLabel: 'Search a town or shelter',
    searchPlaceholder: 'Town or shelter name', searchButton: 'Search', locate: 'My location', panelTitle: 'Information',
    hint: 'Tap the map or search a town to see the designated flood and landslide areas at that point and the nearest shelters.',
    layers: 'Layers shown', layerTree: 'Layers', legend: 'Legend', embed: 'Embed this map',
    embedHelp: 'Paste this code into a web page.', logout: 'Sign out',
    keyLabel: 'API key (from your administrator)', keyButton: 'Open', keyWrong: 'The key is wrong or has been revoked.',
    mapLabel: 'Map. Tap the map to see the hazard report for that point.',
    staffMapLabel: 'Map. Click a feature to see its attributes and the hazard report for that point.',
    loading: 'Checking…', mapLoading: 'Loading the map…', failed: 'Could not get the information. Check your connection.',
    shelters: 'Nearest shelters', opens: 'Opens for this hazard', mayNotOpen: 'May not open for this hazard',
    noResults: 'Nothing found.', locating: 'Finding your location…', noLocation: 'Could not get your location.',
    features: 'Features here', langButton: '日本語', langCode: 'ja',
    land: 'Land report for this point', landPrint: 'Open for printing', landCsv: 'Save as CSV', keyRevoked: 'The key was revoked or has expired. Enter a key again.',
    skip: 'Skip the map to the information', centre: 'Check map centre', more: 'Show more',
    zoomIn: 'Zoom in', zoomOut: 'Zoom out', outside: 'Outside this data', check: 'Where to check', legendEmpty: 'Nothing is shown.',
    tell: 'Tell the city about a problem here', tellHelp: 'Report a flooded road, a fallen tree or another problem you saw at this point. City staff check it before it appears on the map.',
    tellUrgent: 'If a life is at risk, for a fire or injuries, call 119 (fire and ambulance) or 110 (police).',
    tellSend: 'Send', tellSending: 'Sending…', tellChoose: 'Choose one', tellFailed: 'Could not send. Check your connection and send again.',
    liveHere: 'Latest here', yes: 'yes', no: 'no',
    tellWhere: 'Point reported', tellLeft: (n) => `${n} characters left`, tellTooMany: 'Too many reports from here this hour. If it is urgent, call the city office.',
    tellInvalid: 'Not sent. Choose a kind and check the details.',
  },
};

// The language chosen before, else `?lang=`, else the browser's.
const urlLang = new URLSearchParams(location.search).get('lang');
let lang = localStorage.getItem('chizu.lang') ?? (urlLang === 'en' || urlLang === 'ja' ? urlLang : null)
  ?? ((navigator.languages ?? [navigator.language]).find((l) => /^(ja|en)/i.test(l))?.slice(0, 2).toLowerCase() === 'en' ? 'en' : 'ja');
let catalog = null;
let site = {};
let lastPoint = null;
let popup = null;
// While a staff tool (measuring, drawing) takes the map's clicks, they ask nothing.
let busy = false;
const hooks = { language: [], identify: [], live: [] };
// Titles and the search example come from the city's site.toml (via /catalog), not from code.
const siteText = (k) => {
  if (k === 'title' && site.title) return pick(site.title);
  if (k === 'staffTitle' && site.staff_title) return pick(site.staff_title);
  if (k === 'searchPlaceholder' && site.search_example) {
    return lang === 'ja' ? `${TEXT.ja.searchPlaceholder}（例：${pick(site.search_example)}）` : `${TEXT.en.searchPlaceholder} (e.g. ${pick(site.search_example)})`;
  }
  return undefined;
};
const t = (k) => siteText(k) ?? TEXT[lang][k] ?? k;
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
const pick = (o) => (o && typeof o === 'object' ? o[lang] ?? o.ja : o);
// Brackets and colons as each language writes them: 「（a、b）」 / " (a, b)".
const paren = (...xs) => (lang === 'ja' ? `（${xs.join('、')}）` : ` (${xs.join(', ')})`);
const colon = () => (lang === 'ja' ? '：' : ': ');

function key() { return sessionStorage.getItem(KEY_STORE); }
function authHeaders() { return VIEW === 'internal' && key() ? { Authorization: `Bearer ${key()}` } : {}; }
// `init` for a POST (the staff map's lot report of a drawn area).
async function getJson(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { ...init.headers, ...authHeaders() } });
  if (!r.ok) { keyRefused(r.status); const e = new Error(`${r.status}`); e.status = r.status; throw e; }
  return r.json();
}

// A key revoked or expired mid-session: back to the log-in, saying why (staff map only).
let signedIn = false;
function keyRefused(status) {
  if (VIEW !== 'internal' || status !== 401 || !signedIn) return;
  signedIn = false;
  sessionStorage.removeItem(KEY_STORE);
  sessionStorage.setItem('chizu.loginMessage', 'keyRevoked');
  location.reload();
}

// Opens a report the server renders (HTML to print, CSV to save), fetched with the key so
// no tab ever opens on a 401; `init` for a POST (the lot report of a drawn area).
async function openWithKey(path, filename, init = {}) {
  const r = await fetch(path, { ...init, headers: { ...init.headers, ...authHeaders() } });
  if (!r.ok) { keyRefused(r.status); return; }
  const url = URL.createObjectURL(await r.blob());
  if (filename) {
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    a.click();
  } else {
    window.open(url, '_blank', 'noopener');
  }
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// A placeholder cut off mid-word tells nothing: where the whole one does not fit the box (a
// phone), the example alone is shown ("例：方ノ上"); the label says what the box is for.
const measure = document.createElement('canvas').getContext('2d');
function fitPlaceholder(el) {
  const full = t(el.dataset.i18nPlaceholder);
  el.placeholder = full;
  if (el.dataset.i18nPlaceholder !== 'searchPlaceholder' || !site.search_example || !measure) return;
  const cs = getComputedStyle(el);
  measure.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  // Room for the text: the box less its padding and the search field's clear button.
  const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 24;
  if (room > 0 && measure.measureText(full).width > room) {
    el.placeholder = lang === 'ja' ? `例：${pick(site.search_example)}` : `e.g. ${pick(site.search_example)}`;
  }
}
addEventListener('resize', () => { for (const el of document.querySelectorAll('[data-i18n-placeholder]')) fitPlaceholder(el); });

function applyText() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) fitPlaceholder(el);
  for (const el of document.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  // The button names the other language, in that language (and is read out in it).
  const b = document.getElementById('lang');
  b.textContent = t('langButton');
  b.lang = t('langCode');
  document.title = VIEW === 'public' ? `${t('title')}` : t('staffTitle');
}

// Live features under a tap on the public map (a river gauge's latest reading, a
// published incident): at most 5, as the map drew them.
function liveAt(map, point) {
  const live = new Set(catalog.layers.filter((l) => l.live).map((l) => l.id));
  const layers = map.getStyle().layers.filter((l) => live.has(l.metadata?.['chizu:layer'])).map((l) => l.id);
  if (!layers.length) return [];
  const seen = new Set();
  const out = [];
  for (const f of map.queryRenderedFeatures([[point.x - 14, point.y - 14], [point.x + 14, point.y + 14]], { layers })) {
    const k = `${f.sourceLayer}/${f.id}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ layer: f.sourceLayer, properties: f.properties });
  }
  return out.slice(0, 5);
}

function liveText(v, field) {
  if (field?.values?.[String(v)]) return pick(field.values[String(v)]);
  if (typeof v === 'boolean' || v === 'true' || v === 'false') return t(String(v) === 'true' ? 'yes' : 'no');
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d.toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
  }
  return v;
}

function renderLive(live) {
  if (!live?.length) return '';
  let h = `<h3>${t('liveHere')}</h3>`;
  for (const f of live) {
    const layer = catalog.layers.find((l) => l.id === f.layer);
    if (!layer) continue;
    h += `<div class="popup live-here"><strong>${esc(pick(layer.title))}</strong><dl>`;
    // A gauge's reading, level and time first (after its name), its thresholds after.
    const first = ['reading', 'reading_level', 'reading_at', 'stale'];
    const fields = [layer.fields[0], ...first.map((n) => layer.fields.find((x) => x.name === n)).filter(Boolean),
      ...layer.fields.slice(1).filter((x) => !first.includes(x.name) && x.name !== 'reading_age_min')];
    for (const field of fields) {
      const v = f.properties[field.name];
      if (v === undefined || v === null || v === '') continue;
      h += `<dt>${esc(field.label ? pick(field.label) : field.name)}</dt><dd>${esc(liveText(v, field))}</dd>`;
    }
    h += '</dl></div>';
  }
  return h;
}

// A found place's name in the page's language: in English, its rōmaji (from its kana
// reading) with the name as written beside it, for asking a neighbour or reading a sign.
const placeName = (x) => (lang === 'en' && x.romaji ? `${x.romaji} (${x.name})` : x.name);

function renderReport(r, found, live) {
  const el = document.getElementById('report');
  const place = found && placeName(found);
  // Never "safe" colours: not designated in this data is not the same as safe.
  const cls = r.designated ? 'hazard' : (r.covered === false ? 'outside' : 'neutral');
  const where = place ? (lang === 'ja' ? `${place}のハザード情報` : `Hazards at ${place}`) : (lang === 'ja' ? 'この地点のハザード情報' : 'Hazards at this point');
  let h = `<h3 id="report-heading" tabindex="-1">${esc(where)}</h3>${renderLive(live)}<p class="summary ${cls}">${esc(r.summary)}</p>`;
  if (r.hazards.length) {
    h += '<ol>';
    for (const z of r.hazards) {
      const cl = z.class ? `${colon()}${esc(z.class.label)}` : '';
      h += `<li><strong>${esc(z.kind_label)}${z.scenario ? esc(paren(z.scenario)) : ''}${cl}</strong>`;
      for (const d of z.details) h += `<br>${esc(d.label)}${colon()}${esc(d.value)}`;
      if (z.notice) h += `<br>${lang === 'ja' ? '告示' : 'Notice'}${colon()}${esc(z.notice)}${z.date ? esc(paren(z.date)) : ''}`;
      if (z.action) h += `<br>${esc(z.action)}`;
      h += '</li>';
    }
    h += '</ol>';
  }
  if (r.hint) h += `<p class="hint">${esc(r.hint)}</p>`;
  if (r.shelters.length) {
    h += `<h3>${t('shelters')}</h3><ol>`;
    for (const s of r.shelters) {
      const flag = s.opens_for_found === true ? `<br>✔ ${t('opens')}` : s.caution ? `<br>⚠ ${esc(s.caution)}` : '';
      const crossing = s.crossing ? `<br>⚠ ${esc(s.crossing)}` : '';
      h += `<li><strong>${esc(s.name)}</strong>${s.romaji ? ` <span lang="en">(${esc(s.romaji)})</span>` : ''}${esc(paren(s.layer_title))}<br>${esc(s.guidance)}${flag}${crossing}${s.address ? `<br>${esc(s.address)}` : ''}</li>`;
    }
    h += '</ol>';
  }
  if (r.coverage_note) h += `<p class="coverage">${esc(r.coverage_note)}</p>`;
  if (r.links?.length) {
    h += `<h3>${t('check')}</h3><ul>`;
    for (const l of r.links) h += `<li><a href="${esc(l.url)}" rel="noopener" target="_blank">${esc(pick(l.title))}</a></li>`;
    h += '</ul>';
  }
  h += `<p class="disclaimer">${esc(r.note)}</p>`;
  h += `<p><a href="/hazard?lon=${r.lon}&amp;lat=${r.lat}&amp;lang=${lang}&amp;f=html">${lang === 'ja' ? '文字だけの版で見る' : 'Text-only version'}</a></p>`;
  if (r.covered !== false) h += tellForm(r.lon, r.lat);
  el.innerHTML = h;
  const tell = el.querySelector('form.tell');
  tell?.addEventListener('submit', sendTell);
  tell?.elements.text?.addEventListener('input', (e) => {
    document.getElementById('tell-left').textContent = TEXT[lang].tellLeft(e.target.maxLength - e.target.value.length);
  });
  // A new report starts at its top, and a keyboard or screen-reader user lands on it.
  el.closest('.panel')?.scrollTo?.({ top: 0 });
  el.scrollIntoView?.({ block: 'start' });
  document.getElementById('report-heading')?.focus({ preventScroll: true });
}

// Residents' reports (a live layer's `reports`, public map only): a form under the
// report for the point, sent to the layer's public route; nothing can be read back.
function tellForm(lon, lat) {
  if (VIEW !== 'public') return '';
  const layer = catalog.layers.find((l) => l.reports?.values?.length);
  if (!layer) return '';
  const r = layer.reports;
  const options = r.values.map((v) => `<option value="${esc(v.value)}">${esc(pick(v.label))}</option>`).join('');
  const max = r.max_length ?? 500;
  const text = r.text ? `<label for="tell-text">${esc(pick(r.text_label) ?? r.text)}</label>
    <textarea id="tell-text" name="text" rows="3" maxlength="${max}" aria-describedby="tell-left"></textarea>
    <p id="tell-left" class="tell-note">${esc(TEXT[lang].tellLeft(max))}</p>` : '';
  return `<details class="box tell-box"><summary>${t('tell')}</summary>
    <form class="tell" data-url="${esc(r.url)}" data-category="${esc(r.category)}" data-text="${esc(r.text ?? '')}" data-lon="${lon}" data-lat="${lat}">
    <p>${t('tellHelp')}</p><p class="urgent"><strong>${t('tellUrgent')}</strong></p>
    <p class="tell-note">${t('tellWhere')}${colon()}${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}</p>
    <label for="tell-kind">${esc(pick(r.category_label) ?? r.category)}</label>
    <select id="tell-kind" name="category" required><option value="">${t('tellChoose')}</option>${options}</select>
    ${text}
    <button type="submit" class="btn">${t('tellSend')}</button>
    <p class="tell-status" role="status" aria-live="polite"></p></form></details>`;
}

async function sendTell(e) {
  e.preventDefault();
  const f = e.currentTarget;
  const status = f.querySelector('.tell-status');
  const button = f.querySelector('button[type=submit]');
  const properties = { [f.dataset.category]: f.elements.category.value };
  if (f.dataset.text && f.elements.text.value.trim()) properties[f.dataset.text] = f.elements.text.value.trim();
  const body = { type: 'Feature', geometry: { type: 'Point', coordinates: [Number(f.dataset.lon), Number(f.dataset.lat)] }, properties };
  button.disabled = true;
  status.textContent = t('tellSending');
  try {
    const r = await fetch(f.dataset.url, { method: 'POST', headers: { 'Content-Type': 'application/geo+json' }, body: JSON.stringify(body) });
    const j = await r.json().catch(() => ({}));
    if (r.ok) {
      status.textContent = pick(j.message) ?? '';
      f.querySelector('select').disabled = true;
      if (f.elements.text) f.elements.text.disabled = true;
      return;
    }
    // Said in the page's language; the server's own reason (English) after it.
    const said = r.status === 429 ? t('tellTooMany') : r.status === 400 ? t('tellInvalid') : t('tellFailed');
    status.textContent = lang === 'en' && j.error ? `${said} (${j.error})` : said;
  } catch {
    status.textContent = t('tellFailed');
  }
  button.disabled = false;
}

function drawReport(map, lon, lat, r) {
  const features = [{ type: 'Feature', properties: { kind: 'here' }, geometry: { type: 'Point', coordinates: [lon, lat] } }];
  // The way is drawn only to a site that opens for what was found here (the server lists
  // it first); never to one that may not open.
  const s = r.shelters.find((x) => x.opens_for_found !== false);
  if (s) features.push({ type: 'Feature', properties: { kind: 'route' }, geometry: { type: 'LineString', coordinates: [[lon, lat], [s.lon, s.lat]] } });
  map.getSource('report')?.setData({ type: 'FeatureCollection', features });
  // Every hazard the report names is drawn while it is shown.
  for (const z of r.hazards) {
    for (const l of map.getStyle().layers.filter((x) => x.metadata?.['chizu:layer'] === z.layer)) {
      if (map.getLayoutProperty(l.id, 'visibility') === 'none') map.setLayoutProperty(l.id, 'visibility', 'visible');
    }
  }
  if (r.hazards.length) { buildToggles(map); buildLegend(map); }
  // The point and the shelter both in view.
  if (s) {
    map.fitBounds([[Math.min(lon, s.lon), Math.min(lat, s.lat)], [Math.max(lon, s.lon), Math.max(lat, s.lat)]], { padding: 48, maxZoom: 16, duration: 600 });
  }
}

async function report(map, lon, lat, place, live) {
  lastPoint = [lon, lat, place, live];
  const el = document.getElementById('report');
  el.innerHTML = `<p>${t('loading')}</p>`;
  try {
    const r = await getJson(`/hazard?lon=${lon.toFixed(6)}&lat=${lat.toFixed(6)}&lang=${lang}`);
    renderReport(r, place, live);
    drawReport(map, lon, lat, r);
  } catch (e) {
    el.innerHTML = `<p class="error">${t('failed')}</p>`;
  }
}

async function identify(map, lon, lat) {
  const el = document.getElementById('identify');
  if (!el) return;
  const z = Math.round(map.getZoom());
  const fc = await getJson(`/query?lon=${lon.toFixed(6)}&lat=${lat.toFixed(6)}&z=${z}`).catch(() => null);
  if (!fc) { el.innerHTML = ''; return; }
  for (const f of hooks.identify) f(fc);
  let h = `<h3>${t('features')}</h3>`;
  for (const f of fc.features.slice(0, 10)) {
    h += `<div class="popup"><strong>${esc(pick(f.layer_title))}</strong><dl>`;
    for (const [k, v] of Object.entries(f.properties)) {
      if (v === null || v === '') continue;
      const label = f.labels[k] ? pick(f.labels[k]) : k;
      const val = f.value_labels[k] ? pick(f.value_labels[k]) : v;
      h += `<dt>${esc(label)}</dt><dd>${esc(val)}</dd>`;
    }
    h += '</dl></div>';
  }
  const q = `lon=${lon.toFixed(6)}&lat=${lat.toFixed(6)}&lang=${lang}`;
  h += `<h3>${t('land')}</h3><p><button type="button" class="btn" data-land="html">${t('landPrint')}</button> <button type="button" class="btn" data-land="csv">${t('landCsv')}</button></p>`;
  el.innerHTML = fc.features.length ? h : h.slice(h.indexOf(`<h3>${t('land')}`));
  el.onclick = (e) => {
    const f = e.target.dataset?.land;
    if (f) openWithKey(`/land?${q}&f=${f}`, f === 'csv' ? 'land.csv' : null);
  };
  // One list, in the panel; the map marks where was clicked.
  popup?.remove();
  popup = new maplibregl.Marker({ color: '#0b3d91' }).setLngLat([lon, lat]).addTo(map);
}

function buildToggles(map) {
  const box = document.getElementById('toggles');
  const styleLayers = map.getStyle().layers;
  const groups = new Map();
  for (const l of catalog.layers) {
    const ids = styleLayers.filter((s) => s.metadata?.['chizu:layer'] === l.id).map((s) => s.id);
    if (!ids.length) continue;
    const cat = pick(l.category.label);
    if (!groups.has(cat)) groups.set(cat, []);
    groups.get(cat).push([l, ids]);
  }
  let h = '';
  for (const [cat, items] of groups) {
    h += `<div class="group"><h3>${esc(cat)}</h3>`;
    for (const [l, ids] of items) {
      const on = map.getLayoutProperty(ids[0], 'visibility') !== 'none';
      h += `<label class="toggle"><input type="checkbox" data-ids="${ids.join(',')}" ${on ? 'checked' : ''}> ${esc(pick(l.title))}</label>`;
    }
    h += '</div>';
  }
  box.innerHTML = h;
  box.onchange = (e) => {
    const ids = e.target.dataset.ids?.split(',') ?? [];
    for (const id of ids) map.setLayoutProperty(id, 'visibility', e.target.checked ? 'visible' : 'none');
    buildLegend(map);
    // Remembered for the next visit (the view itself is in the URL).
    const on = [...box.querySelectorAll('input:checked')].flatMap((x) => x.dataset.ids.split(','));
    const off = [...box.querySelectorAll('input:not(:checked)')].flatMap((x) => x.dataset.ids.split(','));
    localStorage.setItem(`chizu.layers.${VIEW}`, JSON.stringify({ on, off }));
  };
}

// The legend is made from the style the map draws: each chizu layer's first style layer
// carries its legend in the colours drawn (generated by the server from the layer files).
// Only layers drawn now are listed, so the legend and the map cannot disagree.
function buildLegend(map) {
  const el = document.getElementById('legend');
  const style = map?.getStyle?.();
  if (!el || !style?.layers) return;
  const row = (kind, colour, opacity, text) => {
    const shape = kind === 'line' ? `height:0.3rem;background:${colour}` : kind === 'outline' ? `border:2px dashed ${colour};background:transparent` : kind === 'circle' ? `border-radius:50%;width:1rem;background:${colour}` : kind === 'label' ? '' : `background:${colour};opacity:${opacity}`;
    const sw = kind === 'label' ? '<span class="swatch swatch-text" aria-hidden="true">Aa</span>' : `<span class="swatch" aria-hidden="true" style="${shape}"></span>`;
    return `<div class="legend-row">${sw}${esc(text)}</div>`;
  };
  const drawn = new Set();
  let h = '';
  for (const l of style.layers) {
    const id = l.metadata?.['chizu:layer'];
    if (!id || drawn.has(id)) continue;
    const ids = style.layers.filter((x) => x.metadata?.['chizu:layer'] === id).map((x) => x.id);
    if (!ids.some((x) => map.getLayoutProperty(x, 'visibility') !== 'none')) continue;
    drawn.add(id);
    const lg = l.metadata['chizu:legend'];
    const title = lg ? pick(lg.title) : pick(catalog.layers.find((c) => c.id === id)?.title) ?? id;
    h += `<div class="legend-layer" data-layer="${esc(id)}"><h3>${esc(title)}</h3>`;
    if (lg) {
      for (const it of lg.items) h += row(lg.kind, it.colour, lg.opacity ?? 1, lg.items.length === 1 && pick(it.label) === title ? '' : pick(it.label));
    } else {
      const paint = l.paint ?? {};
      const c = [paint['fill-color'], paint['line-color'], paint['circle-color']].find((x) => typeof x === 'string') ?? '#888';
      h += row(l.type === 'fill' ? 'fill' : l.type === 'circle' ? 'circle' : 'line', c, paint['fill-opacity'] ?? 1, '');
    }
    h += '</div>';
  }
  el.innerHTML = h || `<p>${t('legendEmpty')}</p>`;
}

/** A button on the map that opens the legend (on a phone it is below the map). */
class LegendControl {
  onAdd() {
    const div = document.createElement('div');
    div.className = 'maplibregl-ctrl maplibregl-ctrl-group';
    div.innerHTML = `<button type="button" class="legend-button" data-i18n="legend">${esc(t('legend'))}</button>`;
    div.querySelector('button').addEventListener('click', () => {
      const box = document.getElementById('legend')?.closest('details');
      if (!box) return;
      box.open = true;
      box.scrollIntoView({ block: 'start', behavior: 'smooth' });
      box.querySelector('summary')?.focus({ preventScroll: true });
    });
    return div;
  }

  onRemove() {}
}

/** MapLibre's zoom buttons, named in the page's language. */
function nameControls() {
  for (const [sel, k] of [['.maplibregl-ctrl-zoom-in', 'zoomIn'], ['.maplibregl-ctrl-zoom-out', 'zoomOut']]) {
    const b = document.querySelector(sel);
    if (b) { b.title = t(k); b.setAttribute('aria-label', t(k)); }
  }
}

function updateEmbed(map) {
  const code = document.getElementById('embed-code');
  if (!code) return;
  const c = map.getCenter();
  const src = `${location.origin}/#${map.getZoom().toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`;
  code.value = `<iframe src="${src.replace('/#', `/?lang=${lang}&embed=map#`)}" title="${esc(t('title'))}" width="100%" height="480" style="border:0" allow="geolocation"></iframe>\n<!-- MapLibre style: ${location.origin}/styles/public.json -->`;
}

let lastSearch = null;
async function search(map, q, limit = 10) {
  const list = document.getElementById('results');
  list.innerHTML = '';
  lastSearch = q.trim() ? [q, limit] : null;
  if (!q.trim()) return;
  const r = await getJson(`/search?q=${encodeURIComponent(q.trim())}&limit=${limit + 1}`).catch(() => ({ results: [] }));
  if (!r.results.length) { list.innerHTML = `<li>${t('noResults')}</li>`; return; }
  const shown = r.results.slice(0, limit);
  const item = (x, i) => `<li><button type="button" data-i="${i}">${esc(placeName(x))}${esc(paren(pick(x.layer_title)))}</button></li>`;
  const more = r.results.length > limit && limit < 50 ? `<li><button type="button" class="more" data-more="1">${t('more')}</button></li>` : '';
  if (VIEW === 'internal') {
    // Staff search every configured layer: results grouped by layer, in the order found.
    const groups = new Map();
    shown.forEach((x, i) => { if (!groups.has(x.layer)) groups.set(x.layer, []); groups.get(x.layer).push([x, i]); });
    list.innerHTML = [...groups.values()].map((g) => `<li class="result-group"><h3>${esc(pick(g[0][0].layer_title))}</h3><ul class="results">${g.map(([x, i]) => `<li><button type="button" data-i="${i}">${esc(x.name)}${x.matched_text && x.matched_text !== x.name ? esc(paren(x.matched_text)) : ''}</button></li>`).join('')}</ul></li>`).join('') + more;
  } else {
    list.innerHTML = shown.map(item).join('') + more;
  }
  list.onclick = (e) => {
    if (e.target.dataset.more) { search(map, q, 50); return; }
    const x = shown[e.target.dataset.i];
    if (!x) return;
    list.innerHTML = '';
    lastSearch = null;
    map.flyTo({ center: [x.lon, x.lat], zoom: Math.max(map.getZoom(), 15) });
    report(map, x.lon, x.lat, { name: x.name, romaji: x.romaji });
  };
  if (r.results[0].match === 'exact') list.querySelector('button').focus();
}

// Live layers (incidents put on the map while they happen): the server's event stream says
// what changed, and the map reloads those layers' tiles (they are revalidated by ETag, so
// what did not change costs a 304). Read with fetch, not EventSource, so the staff map's
// stream carries the key; reconnects with back-off, and reloads after a gap.
function followLive(map) {
  const live = new Set(catalog.layers.filter((l) => l.live).map((l) => l.id));
  if (!live.size || !window.TextDecoderStream) return;
  const liveSources = () => Object.keys(map.getStyle().sources).filter((name) => (map.getStyle().layers ?? []).some((l) => l.source === name && live.has(l['source-layer'])));
  let timer = null;
  let generation = 0;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      // A new URL per change: no cache between the browser and the server can answer
      // with the tile from before it (live tiles are small).
      generation += 1;
      for (const name of liveSources()) {
        const s = map.getSource(name);
        if (s?.tiles && s.setTiles) s.setTiles(s.tiles.map((u) => `${u.split('?')[0]}?v=${generation}`));
      }
      hooks.live.forEach((f) => f());
    }, 150);
  };
  let connected = false;
  const listen = async (delay) => {
    try {
      const r = await fetch('/events', { headers: authHeaders() });
      if (!r.ok || !r.body) throw new Error(String(r.status));
      if (connected) refresh(); // what changed while away
      connected = true;
      delay = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev === 'resync') refresh();
          if (ev === 'change') {
            try { if (live.has(JSON.parse(data).layer)) refresh(); } catch { /* not ours */ }
          }
        }
      }
    } catch { delay = Math.min(delay * 2, 60000); }
    setTimeout(() => listen(delay), delay);
  };
  listen(1000);
}

// The staff map's requests to this server carry the key.
const transformRequest = (url) => (VIEW === 'internal' && (url.startsWith(location.origin) || url.startsWith('/')) ? { url, headers: authHeaders() } : { url });

async function start() {
  // The public page carries the catalog and the style; the staff page fetches them.
  const boot = JSON.parse(document.getElementById('chizu-boot')?.textContent ?? 'null');
  catalog = boot?.catalog ?? await getJson('/catalog');
  site = catalog.site ?? {};
  applyText();
  // Where the map opens: the URL hash, else the site's view (in the style), else the data.
  const fit = !location.hash && !site.view && site.bounds;
  // `?encoding=mlt` (or `mvt`): the map asks for tiles in that encoding instead of the site's.
  const encoding = new URLSearchParams(location.search).get('encoding');
  const map = new maplibregl.Map({
    container: 'map',
    style: (encoding ? null : boot?.style) ?? `${location.origin}/styles/${VIEW}.json${encoding ? `?encoding=${encodeURIComponent(encoding)}` : ''}`,
    hash: true,
    ...(fit ? { bounds: [[site.bounds[0], site.bounds[1]], [site.bounds[2], site.bounds[3]]], fitBoundsOptions: { padding: 16 } } : {}),
    attributionControl: false,
    transformRequest,
  });
  window.chizuMap = map; // for tests and for embedding pages that want to script the map
  if (VIEW === 'internal') {
    // What the staff tools (web/staff.js) work through.
    window.chizuApp = {
      map, maplibregl, esc, pick, t, lang: () => lang, catalog: () => catalog, getJson, authHeaders, openWithKey, keyRefused, transformRequest,
      setBusy: (b) => { busy = b; }, onLanguage: (f) => hooks.language.push(f), onIdentify: (f) => hooks.identify.push(f), onLive: (f) => hooks.live.push(f),
    };
    document.dispatchEvent(new CustomEvent('chizu:map', { detail: window.chizuApp }));
  }
  map.on('error', (e) => keyRefused(e.error?.status));
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.addControl(new LegendControl(), 'top-left');
  nameControls();
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }));
  map.on('load', () => {
    map.addSource('report', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: 'report-route', type: 'line', source: 'report', filter: ['==', ['get', 'kind'], 'route'], paint: { 'line-color': '#0b3d91', 'line-width': 3, 'line-dasharray': [2, 1] } });
    map.addLayer({ id: 'report-here', type: 'circle', source: 'report', filter: ['==', ['get', 'kind'], 'here'], paint: { 'circle-color': '#0b3d91', 'circle-radius': 8, 'circle-stroke-color': '#fff', 'circle-stroke-width': 3 } });
    // Layer choices from the last visit.
    try {
      const saved = JSON.parse(localStorage.getItem(`chizu.layers.${VIEW}`) ?? 'null');
      for (const id of saved?.on ?? []) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', 'visible');
      for (const id of saved?.off ?? []) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', 'none');
    } catch { /* a bad saved value is ignored */ }
    buildToggles(map);
    buildLegend(map);
    const attr = new Set([site.attribution, ...catalog.layers.map((l) => l.attribution)].filter(Boolean));
    document.getElementById('attribution').innerHTML = [...attr].join('<br>');
    document.body.dataset.ready = 'true';
    document.getElementById('map-loading')?.remove();
    followLive(map);
  });
  map.on('click', (e) => {
    if (busy) return;
    report(map, e.lngLat.lng, e.lngLat.lat, undefined, VIEW === 'public' ? liveAt(map, e.point) : []);
    identify(map, e.lngLat.lng, e.lngLat.lat);
  });
  map.on('moveend', () => updateEmbed(map));
  updateEmbed(map);
  document.getElementById('search').addEventListener('submit', (e) => { e.preventDefault(); search(map, document.getElementById('q').value); });
  // A keyboard way to ask about any point: move the map, then ask about its centre.
  document.getElementById('centre')?.addEventListener('click', () => {
    const c = map.getCenter();
    report(map, c.lng, c.lat);
  });
  document.getElementById('locate')?.addEventListener('click', () => {
    const el = document.getElementById('report');
    el.innerHTML = `<p>${t('locating')}</p>`;
    navigator.geolocation.getCurrentPosition(
      (p) => { map.flyTo({ center: [p.coords.longitude, p.coords.latitude], zoom: 15 }); report(map, p.coords.longitude, p.coords.latitude); },
      () => { el.innerHTML = `<p class="error">${t('noLocation')}</p>`; },
      { enableHighAccuracy: true, timeout: 10000 },
    );
  });
  document.getElementById('lang').addEventListener('click', () => {
    lang = lang === 'ja' ? 'en' : 'ja';
    localStorage.setItem('chizu.lang', lang);
    applyText();
    nameControls();
    if (map.getStyle?.()?.layers) { buildToggles(map); buildLegend(map); }
    updateEmbed(map);
    if (lastPoint) report(map, lastPoint[0], lastPoint[1], lastPoint[2], lastPoint[3]);
    // Results and 'nothing found' are said again in the new language.
    if (lastSearch) search(map, lastSearch[0], lastSearch[1]);
    for (const f of hooks.language) f();
  });
  // Every button works from here on, while the map may still be loading its tiles.
  document.body.dataset.interactive = 'true';
}

async function startStaff() {
  applyText();
  const login = document.getElementById('login');
  const said = sessionStorage.getItem('chizu.loginMessage');
  if (said) { sessionStorage.removeItem('chizu.loginMessage'); document.getElementById('login-error').textContent = t(said); }
  const open = async () => {
    try {
      await getJson('/catalog');
    } catch (e) {
      sessionStorage.removeItem(KEY_STORE);
      document.getElementById('login-error').textContent = t('keyWrong');
      return;
    }
    signedIn = true;
    login.hidden = true;
    document.getElementById('staff').hidden = false;
    document.getElementById('search').hidden = false;
    document.getElementById('logout').hidden = false;
    await start();
  };
  login.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, document.getElementById('key').value.trim());
    open();
  });
  document.getElementById('logout').addEventListener('click', () => { sessionStorage.removeItem(KEY_STORE); location.reload(); });
  document.getElementById('lang').addEventListener('click', () => {
    if (!login.hidden) { lang = lang === 'ja' ? 'en' : 'ja'; localStorage.setItem('chizu.lang', lang); applyText(); }
  });
  if (key()) open();
}

if (VIEW === 'internal') startStaff(); else start();
