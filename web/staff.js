// chizu staff tools (統合型GIS): attribute tables, measuring, the lot report for a drawn
// area, and printing at a chosen scale. Loaded by the staff page only; the public page on a
// phone never downloads it. It works through what app.js hands over (`window.chizuApp`).

const TEXT = {
  ja: {
    table: '属性テーブル', tableLayer: 'レイヤー', filter: '絞り込み', filterHint: '文字で探すか、CQL2 で条件を書きます', example: '例',
    apply: '適用', prev: '前へ', next: '次へ', rows: (a, b, n) => `${n} 件中 ${a}–${b} 件`, none: '該当する地物はありません。',
    exportAs: '書き出し', badFilter: '絞り込みの条件が正しくありません：',
    tools: '計測・作図・印刷', measureLine: '距離を測る', measureArea: '面積を測る', drawLot: '範囲を描いて土地の情報',
    finish: '完了', clear: '消去', clickPoints: '地図上で点を順にクリックし、「完了」を押してください。',
    distance: '距離', area: '面積', perimeter: '周長', lotTitle: '描いた範囲の土地の情報', lotArea: '範囲の面積',
    print: '印刷', paper: '用紙', orientation: '向き', portrait: '縦', landscape: '横', scale: '縮尺', printTitle: '表題',
    printGo: '印刷する', printing: '印刷用の地図を作っています…', printed: '作成日', north: '北',
    landPrint: '印刷用を開く', landCsv: 'CSVで保存', failed: '情報を取得できませんでした。',
    edit: '災害情報の登録・編集', editLayer: 'レイヤー', add: '地図に追加', clickPlace: '地図上で場所をクリックしてください。',
    clickLine: '地図上で線の点を順にクリックし、「完了」を押してください（2点以上）。', clickPolygon: '地図上で範囲の角を順にクリックし、「完了」を押してください（3点以上）。',
    moreLine: '線には2点以上が必要です。', morePolygon: '範囲には3点以上が必要です。', undo: '1点戻す',
    save: '保存', cancel: 'やめる', remove: '削除', saved: '保存しました。', removed: '削除しました。', confirmRemove: 'この地物を削除しますか？（管理者が元に戻せます）',
    stale: 'ほかの人が先に変更しました。最新の内容を表示しています。確かめてからもう一度保存してください。', lastChange: '最終更新', editHint: '地図上の地物をクリックすると編集できます。', none2: '（なし）',
    movePoint: '位置を移す', reshape: '形を描き直す', clickNewPlace: '新しい位置を地図上でクリックしてください。',
    reshaped: '新しい位置・形は「保存」で確定します（「やめる」で元のまま）。',
  },
  en: {
    table: 'Attribute table', tableLayer: 'Layer', filter: 'Filter', filterHint: 'Type text to find, or a CQL2 condition', example: 'e.g.',
    apply: 'Apply', prev: 'Previous', next: 'Next', rows: (a, b, n) => `${a}–${b} of ${n}`, none: 'No matching features.',
    exportAs: 'Export', badFilter: 'The filter is not valid: ',
    tools: 'Measure, draw, print', measureLine: 'Measure distance', measureArea: 'Measure area', drawLot: 'Land report for a drawn area',
    finish: 'Finish', clear: 'Clear', clickPoints: 'Click points on the map in turn, then press Finish.',
    distance: 'Distance', area: 'Area', perimeter: 'Perimeter', lotTitle: 'Land report for the drawn area', lotArea: 'Area drawn',
    print: 'Print', paper: 'Paper', orientation: 'Orientation', portrait: 'Portrait', landscape: 'Landscape', scale: 'Scale', printTitle: 'Title',
    printGo: 'Print', printing: 'Making the map for printing…', printed: 'Made on', north: 'N',
    landPrint: 'Open for printing', landCsv: 'Save as CSV', failed: 'Could not get the information.',
    edit: 'Add and edit reports', editLayer: 'Layer', add: 'Add on the map', clickPlace: 'Click the place on the map.',
    clickLine: 'Click the points of the line on the map in turn, then press Finish (2 or more).', clickPolygon: 'Click the corners of the area on the map in turn, then press Finish (3 or more).',
    moreLine: 'A line needs 2 points or more.', morePolygon: 'An area needs 3 points or more.', undo: 'Undo point',
    save: 'Save', cancel: 'Cancel', remove: 'Delete', saved: 'Saved.', removed: 'Deleted.', confirmRemove: 'Delete this feature? (an admin can restore it)',
    stale: 'Someone else changed it first. The current version is shown: check it, then save again.', lastChange: 'Last changed', editHint: 'Click a feature on the map to edit it.', none2: '(none)',
    movePoint: 'Move', reshape: 'Redraw the shape', clickNewPlace: 'Click the new place on the map.',
    reshaped: 'Save to keep the new place or shape (Cancel keeps it as it was).',
  },
};

const app = window.chizuApp ?? await new Promise((resolve) => document.addEventListener('chizu:map', (e) => resolve(e.detail), { once: true }));
const { map, esc, pick } = app;
const s = (k) => TEXT[app.lang()][k] ?? k;

// ---------------------------------------------------------------- geodesy (WGS 84)

const A = 6378137;
const F = 1 / 298.257223563;
const B = A * (1 - F);

/** The geodesic distance in metres between two lon/lat points (Vincenty's inverse formula). */
export function geodesicDistance([lon1, lat1], [lon2, lat2]) {
  const rad = Math.PI / 180;
  const L = (lon2 - lon1) * rad;
  const U1 = Math.atan((1 - F) * Math.tan(lat1 * rad));
  const U2 = Math.atan((1 - F) * Math.tan(lat2 * rad));
  const [sinU1, cosU1, sinU2, cosU2] = [Math.sin(U1), Math.cos(U1), Math.sin(U2), Math.cos(U2)];
  let lambda = L;
  for (let i = 0; i < 200; i += 1) {
    const sinL = Math.sin(lambda);
    const cosL = Math.cos(lambda);
    const sinSigma = Math.hypot(cosU2 * sinL, cosU1 * sinU2 - sinU1 * cosU2 * cosL);
    if (sinSigma === 0) return 0;
    const cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    const sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    const cos2Alpha = 1 - sinAlpha * sinAlpha;
    const cos2SigmaM = cos2Alpha === 0 ? 0 : cosSigma - (2 * sinU1 * sinU2) / cos2Alpha;
    const C = (F / 16) * cos2Alpha * (4 + F * (4 - 3 * cos2Alpha));
    const next = L + (1 - C) * F * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
    const done = Math.abs(next - lambda) < 1e-12;
    lambda = next;
    if (done || i === 199) {
      const u2 = (cos2Alpha * (A * A - B * B)) / (B * B);
      const bigA = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
      const bigB = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
      const dSigma = bigB * sinSigma * (cos2SigmaM + (bigB / 4) * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)
        - (bigB / 6) * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
      return B * bigA * (sigma - dSigma);
    }
  }
  return NaN;
}

/**
 * The area in m² of a lon/lat ring on the WGS 84 ellipsoid: latitudes mapped to authalic
 * latitudes (an equal-area map onto the sphere of the same surface), then the spherical
 * polygon's area. For a city's lots the error is far below a square metre per hectare.
 */
export function geodesicArea(ring) {
  const rad = Math.PI / 180;
  const e = Math.sqrt(F * (2 - F));
  const q = (phi) => {
    const sp = Math.sin(phi);
    return (1 - e * e) * (sp / (1 - e * e * sp * sp) - (1 / (2 * e)) * Math.log((1 - e * sp) / (1 + e * sp)));
  };
  const qp = q(Math.PI / 2);
  const R = A * Math.sqrt(qp / 2);
  const authalic = (lat) => Math.asin(Math.max(-1, Math.min(1, q(lat * rad) / qp)));
  let sum = 0;
  const pts = ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1] ? ring.slice(0, -1) : ring;
  for (let i = 0; i < pts.length; i += 1) {
    const [l1, p1] = pts[i];
    const [l2, p2] = pts[(i + 1) % pts.length];
    sum += (l2 - l1) * rad * (2 + Math.sin(authalic(p1)) + Math.sin(authalic(p2)));
  }
  return Math.abs((sum * R * R) / 2);
}

const fmtLength = (m) => (m >= 1000 ? `${(m / 1000).toFixed(3)} km` : `${m.toFixed(2)} m`);
const fmtArea = (m2) => (m2 >= 10000 ? `${m2.toFixed(0)} m²${app.lang() === 'ja' ? `（${(m2 / 10000).toFixed(4)} ha）` : ` (${(m2 / 10000).toFixed(4)} ha)`}` : `${m2.toFixed(2)} m²`);

// ---------------------------------------------------------------- panel sections

const panel = document.querySelector('#staff .panel');
const attribution = document.getElementById('attribution');
const section = (id, title, body) => {
  const d = document.createElement('details');
  d.className = 'box';
  d.id = id;
  d.innerHTML = `<summary data-staff-i18n="${title}">${esc(s(title))}</summary>${body}`;
  panel.insertBefore(d, attribution);
  return d;
};

const tools = section('tools-box', 'tools', `
  <div class="tool-row">
    <button type="button" class="btn" data-tool="line" data-staff-i18n="measureLine">${esc(s('measureLine'))}</button>
    <button type="button" class="btn" data-tool="area" data-staff-i18n="measureArea">${esc(s('measureArea'))}</button>
    <button type="button" class="btn" data-tool="lot" data-staff-i18n="drawLot">${esc(s('drawLot'))}</button>
  </div>
  <div class="tool-row" id="draw-actions" hidden>
    <button type="button" class="btn" id="draw-finish" data-staff-i18n="finish">${esc(s('finish'))}</button>
    <button type="button" class="btn" id="draw-clear" data-staff-i18n="clear">${esc(s('clear'))}</button>
  </div>
  <p id="measure-out" aria-live="polite"></p>
  <section id="lot-out" class="report" aria-live="polite"></section>
  <fieldset class="print-form"><legend data-staff-i18n="print">${esc(s('print'))}</legend>
    <label><span data-staff-i18n="paper">${esc(s('paper'))}</span> <select id="print-paper"><option>A4</option><option>A3</option></select></label>
    <label><span data-staff-i18n="orientation">${esc(s('orientation'))}</span> <select id="print-orientation"><option value="portrait" data-staff-i18n="portrait">${esc(s('portrait'))}</option><option value="landscape" data-staff-i18n="landscape">${esc(s('landscape'))}</option></select></label>
    <label><span data-staff-i18n="scale">${esc(s('scale'))}</span> <select id="print-scale">${[500, 1000, 2500, 5000, 10000, 25000].map((n) => `<option value="${n}" ${n === 2500 ? 'selected' : ''}>1:${n.toLocaleString('en')}</option>`).join('')}</select></label>
    <label><span data-staff-i18n="printTitle">${esc(s('printTitle'))}</span> <input id="print-title" type="text"></label>
    <button type="button" class="btn" id="print-go" data-staff-i18n="printGo">${esc(s('printGo'))}</button>
    <p id="print-status" aria-live="polite"></p>
  </fieldset>`);

const tableBox = section('table-box', 'table', `
  <div class="tool-row">
    <label for="table-layer" data-staff-i18n="tableLayer">${esc(s('tableLayer'))}</label>
    <select id="table-layer"></select>
  </div>
  <form id="table-form" class="tool-row">
    <label for="table-filter" class="visually-hidden" data-staff-i18n="filter">${esc(s('filter'))}</label>
    <input id="table-filter" type="search" autocomplete="off">
    <button type="submit" class="btn" data-staff-i18n="apply">${esc(s('apply'))}</button>
  </form>
  <p class="hint-small" id="table-hint">${esc(s('filterHint'))}</p>
  <p id="table-error" class="error" role="alert"></p>
  <div class="table-wrap"><table id="attr-table"><thead></thead><tbody></tbody></table></div>
  <div class="tool-row">
    <button type="button" class="btn" id="table-prev" data-staff-i18n="prev">${esc(s('prev'))}</button>
    <span id="table-count"></span>
    <button type="button" class="btn" id="table-next" data-staff-i18n="next">${esc(s('next'))}</button>
  </div>
  <div class="tool-row"><span data-staff-i18n="exportAs">${esc(s('exportAs'))}</span>
    <button type="button" class="btn" data-export="csv">CSV</button>
    <button type="button" class="btn" data-export="geojson">GeoJSON</button>
    <button type="button" class="btn" data-export="gpkg">GeoPackage</button>
  </div>`);

document.getElementById('table-filter').placeholder = s('filter');

function retext() {
  for (const el of document.querySelectorAll('[data-staff-i18n]')) el.textContent = s(el.dataset.staffI18n);
  document.getElementById('table-filter').placeholder = s('filter');
  if (table.layer) loadTable();
}
app.onLanguage?.(retext);

// ---------------------------------------------------------------- selection on the map

function addOverlay() {
  if (map.getSource('staff-draw')) return;
  map.addSource('staff-selection', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addSource('staff-draw', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  const poly = ['==', ['geometry-type'], 'Polygon'];
  map.addLayer({ id: 'staff-selection-fill', type: 'fill', source: 'staff-selection', filter: poly, paint: { 'fill-color': '#00e5ff', 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'staff-selection-line', type: 'line', source: 'staff-selection', paint: { 'line-color': '#006064', 'line-width': 3 } });
  map.addLayer({ id: 'staff-selection-point', type: 'circle', source: 'staff-selection', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#00e5ff', 'circle-radius': 9, 'circle-stroke-color': '#006064', 'circle-stroke-width': 3 } });
  map.addLayer({ id: 'staff-draw-fill', type: 'fill', source: 'staff-draw', filter: poly, paint: { 'fill-color': '#6a1b9a', 'fill-opacity': 0.15 } });
  map.addLayer({ id: 'staff-draw-line', type: 'line', source: 'staff-draw', paint: { 'line-color': '#6a1b9a', 'line-width': 2.5, 'line-dasharray': [3, 1.5] } });
  map.addLayer({ id: 'staff-draw-vertex', type: 'circle', source: 'staff-draw', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#fff', 'circle-radius': 5, 'circle-stroke-color': '#6a1b9a', 'circle-stroke-width': 2 } });
}
if (map.loaded()) addOverlay(); else map.once('load', addOverlay);

function bounds(geometry) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') { b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]); } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return b;
}

function select(feature) {
  addOverlay();
  map.getSource('staff-selection').setData({ type: 'FeatureCollection', features: feature ? [feature] : [] });
  if (!feature?.geometry) return;
  const [w, so, e, n] = bounds(feature.geometry);
  if (w === e && so === n) map.flyTo({ center: [w, so], zoom: Math.max(map.getZoom(), 17) });
  else map.fitBounds([[w, so], [e, n]], { padding: 60, maxZoom: 18, duration: 500 });
}

// ---------------------------------------------------------------- attribute table

const table = { layer: null, offset: 0, limit: 50, sort: null, filter: '', fields: [], rows: [], matched: 0 };
const layerSelect = document.getElementById('table-layer');
layerSelect.innerHTML = app.catalog().layers.map((l) => `<option value="${esc(l.id)}">${esc(pick(l.title))}</option>`).join('');
layerSelect.onchange = () => { table.layer = layerSelect.value; table.offset = 0; table.sort = null; loadTable(); };
tableBox.addEventListener('toggle', () => { if (tableBox.open && !table.layer) { table.layer = layerSelect.value; loadTable(); } });

/** The filter box as CQL2: a condition as written, else any text field containing the words. */
function cql(text) {
  const t = text.trim();
  if (!t) return '';
  if (/[=<>()]|\b(LIKE|IN|BETWEEN|IS|AND|OR|NOT|S_INTERSECTS|S_WITHIN|S_CONTAINS)\b/i.test(t)) return t;
  const like = `'%${t.replace(/'/g, "''").replace(/[%_\\]/g, (c) => `\\${c}`)}%'`;
  const texts = table.fields.filter((f) => f.type === 'string').map((f) => `"${f.name}" LIKE ${like}`);
  return texts.length ? texts.join(' OR ') : 'FALSE';
}

function tableQuery() {
  const q = new URLSearchParams();
  const f = cql(table.filter);
  if (f) q.set('filter', f);
  if (table.sort) q.set('sortby', table.sort);
  return q;
}

async function loadTable() {
  const err = document.getElementById('table-error');
  err.textContent = '';
  const id = table.layer;
  const qa = await app.getJson(`/collections/${encodeURIComponent(id)}/queryables?lang=${app.lang()}`).catch(() => null);
  if (id !== table.layer) return;
  table.fields = Object.entries(qa?.properties ?? {}).filter(([k, v]) => k !== 'geometry' && v.type).map(([name, v]) => ({ name, title: v.title ?? name, type: v.type }));
  const q = tableQuery();
  q.set('limit', table.limit);
  q.set('offset', table.offset);
  q.set('lang', app.lang());
  const r = await fetch(`/collections/${encodeURIComponent(id)}/items?${q}`, { headers: app.authHeaders() });
  if (id !== table.layer) return;
  if (!r.ok) {
    app.keyRefused?.(r.status);
    const body = await r.json().catch(() => ({}));
    err.textContent = r.status === 400 ? `${s('badFilter')}${body.detail ?? body.error ?? ''}` : s('failed');
    return;
  }
  const fc = await r.json();
  table.rows = fc.features;
  table.matched = fc.numberMatched ?? fc.features.length;
  renderTable();
}

function renderTable() {
  const head = document.querySelector('#attr-table thead');
  const body = document.querySelector('#attr-table tbody');
  const arrow = (name) => (table.sort === name ? ' ▲' : table.sort === `-${name}` ? ' ▼' : '');
  const aria = (name) => (table.sort === name ? 'ascending' : table.sort === `-${name}` ? 'descending' : 'none');
  head.innerHTML = `<tr>${table.fields.map((f) => `<th scope="col" aria-sort="${aria(f.name)}"><button type="button" data-sort="${esc(f.name)}">${esc(f.title)}${arrow(f.name)}</button></th>`).join('')}</tr>`;
  body.innerHTML = table.rows.map((row, i) => `<tr data-i="${i}" data-id="${esc(row.id)}" tabindex="0">${table.fields.map((f) => {
    const v = row.properties?.[f.name];
    return `<td>${esc(v === null || v === undefined ? '' : typeof v === 'boolean' ? (v ? '○' : '×') : v)}</td>`;
  }).join('')}</tr>`).join('') || `<tr><td colspan="${Math.max(1, table.fields.length)}">${esc(s('none'))}</td></tr>`;
  // The hint's example is a condition on this layer's own data: its first text field and value.
  const f = table.fields.find((x) => x.type === 'string');
  const v = f && table.rows.map((r) => r.properties?.[f.name]).find((x) => typeof x === 'string' && x);
  const ex = v ? `${f.name} = '${v.replace(/'/g, "''")}'` : '';
  document.getElementById('table-hint').textContent = ex ? `${s('filterHint')}${app.lang() === 'ja' ? `（${s('example')}：${ex}）` : ` (${s('example')} ${ex})`}` : s('filterHint');
  const a = table.rows.length ? table.offset + 1 : 0;
  document.getElementById('table-count').textContent = TEXT[app.lang()].rows(a, table.offset + table.rows.length, table.matched);
  document.getElementById('table-prev').disabled = table.offset === 0;
  document.getElementById('table-next').disabled = table.offset + table.rows.length >= table.matched;
}

document.querySelector('#attr-table thead').addEventListener('click', (e) => {
  const name = e.target.closest('button')?.dataset.sort;
  if (!name) return;
  table.sort = table.sort === name ? `-${name}` : name;
  table.offset = 0;
  loadTable();
});
const rowChosen = (e) => {
  const tr = e.target.closest('tr[data-i]');
  if (!tr) return;
  for (const x of document.querySelectorAll('#attr-table tr.selected')) x.classList.remove('selected');
  tr.classList.add('selected');
  select(table.rows[tr.dataset.i]);
};
document.querySelector('#attr-table tbody').addEventListener('click', rowChosen);
document.querySelector('#attr-table tbody').addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); rowChosen(e); } });
document.getElementById('table-form').addEventListener('submit', (e) => {
  e.preventDefault();
  table.filter = document.getElementById('table-filter').value;
  table.offset = 0;
  loadTable();
});
document.getElementById('table-prev').onclick = () => { table.offset = Math.max(0, table.offset - table.limit); loadTable(); };
document.getElementById('table-next').onclick = () => { table.offset += table.limit; loadTable(); };
tableBox.addEventListener('click', (e) => {
  const ext = e.target.dataset?.export;
  if (!ext || !table.layer) return;
  const q = tableQuery();
  app.openWithKey(`/download/${encodeURIComponent(table.layer)}.${ext}${q.toString() ? `?${q}` : ''}`, `${table.layer}.${ext}`);
});

// A feature clicked on the map is found in the table when the table shows its layer.
app.onIdentify?.((fc) => {
  for (const x of document.querySelectorAll('#attr-table tr.selected')) x.classList.remove('selected');
  const f = fc.features.find((x) => x.layer === table.layer);
  if (!f) return;
  const tr = document.querySelector(`#attr-table tr[data-id="${CSS.escape(String(f.id))}"]`);
  if (tr) { tr.classList.add('selected'); tr.scrollIntoView({ block: 'nearest' }); }
  select(f);
});

// ---------------------------------------------------------------- measuring and drawing

const draw = { mode: null, points: [] };
const out = document.getElementById('measure-out');

function drawFeatures() {
  const fs = draw.points.map((p) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } }));
  if (draw.points.length >= 2) fs.push({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: draw.mode === 'line' ? draw.points : [...draw.points, draw.points[0]] } });
  if (draw.mode !== 'line' && draw.points.length >= 3) fs.push({ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[...draw.points, draw.points[0]]] } });
  map.getSource('staff-draw')?.setData({ type: 'FeatureCollection', features: fs });
}

function measureText() {
  const p = draw.points;
  if (draw.mode === 'line') {
    let d = 0;
    for (let i = 1; i < p.length; i += 1) d += geodesicDistance(p[i - 1], p[i]);
    return p.length >= 2 ? `${s('distance')}${app.lang() === 'ja' ? '：' : ': '}${fmtLength(d)}` : s('clickPoints');
  }
  if (p.length < 3) return s('clickPoints');
  let per = 0;
  for (let i = 0; i < p.length; i += 1) per += geodesicDistance(p[i], p[(i + 1) % p.length]);
  const c = app.lang() === 'ja' ? '：' : ': ';
  return `${s('area')}${c}${fmtArea(geodesicArea([...p, p[0]]))} / ${s('perimeter')}${c}${fmtLength(per)}`;
}

function setMode(mode) {
  draw.mode = mode;
  draw.points = [];
  draw.onShape = null;
  app.setBusy?.(Boolean(mode));
  document.getElementById('draw-actions').hidden = !mode;
  for (const b of tools.querySelectorAll('[data-tool]')) b.setAttribute('aria-pressed', String(b.dataset.tool === mode));
  map.getCanvas().style.cursor = mode ? 'crosshair' : '';
  out.textContent = mode ? s('clickPoints') : '';
  drawFeatures();
}

tools.addEventListener('click', (e) => {
  const mode = e.target.dataset?.tool;
  if (mode) { setMode(draw.mode === mode ? null : mode); document.getElementById('lot-out').innerHTML = ''; }
});
map.on('click', (e) => {
  if (!draw.mode) return;
  draw.points.push([e.lngLat.lng, e.lngLat.lat]);
  drawFeatures();
  if (!draw.onShape) out.textContent = measureText();
});
document.getElementById('draw-clear').onclick = () => { const m = draw.mode; setMode(null); setMode(m); };
// A line or an area drawn for a live feature (the editing form below): `onShape` gets its
// GeoJSON geometry when finished; `false` back from `drawShape.finish` while too few points.
const drawShape = {
  start(kind, onShape) {
    setMode(kind === 'line' ? 'line' : 'area');
    draw.onShape = onShape;
    document.getElementById('draw-actions').hidden = true;
    out.textContent = '';
  },
  finish() {
    const { mode, points, onShape } = draw;
    const enough = mode === 'line' ? points.length >= 2 : points.length >= 3;
    if (!onShape || !enough) return false;
    setMode(null);
    const geometry = mode === 'line' ? { type: 'LineString', coordinates: points } : { type: 'Polygon', coordinates: [[...points, points[0]]] };
    // The shape stays drawn while its form is open.
    draw.shown = true;
    map.getSource('staff-draw')?.setData({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry }] });
    onShape(geometry);
    return true;
  },
  undo() { draw.points.pop(); drawFeatures(); },
  cancel() {
    if (draw.onShape || draw.shown) setMode(null);
    draw.shown = false;
  },
  drawing: () => Boolean(draw.onShape),
  // Something drawn outside a drawing (a moved point) stays until `cancel`.
  shown() { draw.shown = true; },
};
document.getElementById('draw-finish').onclick = async () => {
  const { mode, points } = draw;
  const text = measureText();
  app.setBusy?.(false);
  draw.mode = null;
  document.getElementById('draw-actions').hidden = true;
  map.getCanvas().style.cursor = '';
  for (const b of tools.querySelectorAll('[data-tool]')) b.setAttribute('aria-pressed', 'false');
  out.textContent = text;
  if (mode === 'lot' && points.length >= 3) await lotReport({ type: 'Polygon', coordinates: [[...points, points[0]]] });
};

const landPost = (geometry) => ({ method: 'POST', headers: { 'Content-Type': 'application/geo+json' }, body: JSON.stringify(geometry) });

async function lotReport(geometry) {
  const el = document.getElementById('lot-out');
  el.innerHTML = `<p>${esc(app.t('loading'))}</p>`;
  let rep;
  try { rep = await app.getJson(`/land?lang=${app.lang()}&f=json`, landPost(geometry)); } catch { el.innerHTML = `<p class="error">${esc(s('failed'))}</p>`; return; }
  const c = app.lang() === 'ja' ? '：' : ': ';
  let h = `<h3>${esc(s('lotTitle'))}</h3><p>${esc(s('lotArea'))}${c}${esc(fmtArea(rep.area_m2))}</p><ul class="lot-layers">`;
  for (const l of rep.layers) {
    h += `<li><strong>${esc(l.title)}</strong><ul>`;
    for (const f of l.features) {
      const main = f.attributes.slice(0, 3).map((a) => `${a.label}${c}${a.value_label ?? a.value}`).join(' / ');
      const share = f.share_pct !== undefined ? ` — ${f.share_pct.toFixed(1)} %` : f.length_m !== undefined ? ` — ${fmtLength(f.length_m)}` : '';
      h += `<li>${esc(main)}${esc(share)}</li>`;
    }
    h += '</ul></li>';
  }
  h += `</ul><p><button type="button" class="btn" data-lot="html">${esc(s('landPrint'))}</button> <button type="button" class="btn" data-lot="csv">${esc(s('landCsv'))}</button></p>`;
  el.innerHTML = h;
  el.onclick = (e) => {
    const f = e.target.dataset?.lot;
    if (f) app.openWithKey(`/land?lang=${app.lang()}&f=${f}`, f === 'csv' ? 'land.csv' : null, landPost(geometry));
  };
}

// ---------------------------------------------------------------- printing at scale

const PAPER = { A4: [210, 297], A3: [297, 420] };
const MARGIN = 10; // mm on every side
const HEADER = 14; // mm: title and date
const FOOTER = 42; // mm: scale bar, north arrow, legend, attribution
const MM_PX = 96 / 25.4; // CSS pixels per millimetre

/** A scale bar length (m) that is a round number and at most `maxMm` long at 1:`scale`. */
function barLength(scale, maxMm) {
  const best = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000].filter((m) => (m * 1000) / scale <= maxMm);
  return best[best.length - 1] ?? 1;
}

async function printMap() {
  const status = document.getElementById('print-status');
  const paper = document.getElementById('print-paper').value;
  const landscape = document.getElementById('print-orientation').value === 'landscape';
  const scale = Number(document.getElementById('print-scale').value);
  const title = document.getElementById('print-title').value.trim() || app.t('staffTitle');
  const [pw, ph] = landscape ? [...PAPER[paper]].reverse() : PAPER[paper];
  const mapW = pw - 2 * MARGIN;
  const mapH = ph - 2 * MARGIN - HEADER - FOOTER;
  status.textContent = s('printing');
  // The map at exactly 1:scale on paper: metres per CSS pixel from the scale, then the zoom
  // whose resolution at the centre's latitude is that (MapLibre's 512-pixel tiles).
  const c = map.getCenter();
  const mpp = (scale * 25.4) / 96 / 1000;
  const zoom = Math.log2((40075016.686 * Math.cos((c.lat * Math.PI) / 180)) / (512 * mpp));
  const holder = document.createElement('div');
  holder.style.cssText = `position:fixed;left:-20000px;top:0;width:${Math.round(mapW * MM_PX)}px;height:${Math.round(mapH * MM_PX)}px`;
  document.body.append(holder);
  const style = map.getStyle();
  const printMapGl = new app.maplibregl.Map({
    container: holder, style, center: c, zoom, bearing: 0, pitch: 0, interactive: false, attributionControl: false,
    preserveDrawingBuffer: true, pixelRatio: 2, fadeDuration: 0, transformRequest: app.transformRequest,
  });
  await new Promise((resolve) => printMapGl.once('idle', resolve));
  const image = printMapGl.getCanvas().toDataURL('image/png');
  printMapGl.remove();
  holder.remove();

  const bar = barLength(scale, Math.min(60, mapW / 3));
  const barMm = (bar * 1000) / scale;
  const legend = document.getElementById('legend').innerHTML;
  const attr = document.getElementById('attribution').innerHTML;
  const now = new Date();
  const date = app.lang() === 'ja' ? `${now.getFullYear()}年${now.getMonth() + 1}月${now.getDate()}日` : now.toISOString().slice(0, 10);
  let sheet = document.getElementById('print-sheet');
  if (!sheet) { sheet = document.createElement('div'); sheet.id = 'print-sheet'; document.body.append(sheet); }
  sheet.style.setProperty('--map-w', `${mapW}mm`);
  sheet.innerHTML = `
    <header class="print-head" style="height:${HEADER}mm"><h1>${esc(title)}</h1><p>${esc(s('printed'))} ${esc(date)} ・ 1:${scale.toLocaleString('en')} ・ ${paper}</p></header>
    <img class="print-map" alt="" src="${image}" style="width:${mapW}mm;height:${mapH}mm">
    <footer class="print-foot" style="height:${FOOTER}mm">
      <div class="print-scale">
        <svg class="north" viewBox="0 0 20 30" width="8mm" height="12mm" role="img" aria-label="${esc(s('north'))}"><path d="M10 0 L18 26 L10 20 L2 26 Z" fill="#000"/><text x="10" y="30" font-size="7" text-anchor="middle">N</text></svg>
        <div><div class="scale-bar" id="print-scale-bar" data-metres="${bar}" style="width:${barMm}mm"></div>
        <div class="scale-label"><span>0</span><span>${bar >= 1000 ? `${bar / 1000} km` : `${bar} m`}</span></div>
        <p>1:${scale.toLocaleString('en')}</p></div>
      </div>
      <div class="print-legend">${legend}</div>
      <p class="print-attr">${attr}</p>
    </footer>`;
  let page = document.getElementById('print-page-style');
  if (!page) { page = document.createElement('style'); page.id = 'print-page-style'; document.head.append(page); }
  page.textContent = `@page { size: ${paper} ${landscape ? 'landscape' : 'portrait'}; margin: ${MARGIN}mm; }`;
  await sheet.querySelector('img').decode().catch(() => {});
  status.textContent = '';
  document.body.dataset.printReady = 'true';
  window.print();
}
document.getElementById('print-go').onclick = () => printMap().catch((e) => { document.getElementById('print-status').textContent = `${s('failed')} (${e.message})`; });

// ---------------------------------------------------------------- editing live layers

// Live layers the key may add to or change: a form made from each layer's schema, saved
// through the editing API (OGC API – Features Part 4) with the version read (If-Match),
// so an edit made meanwhile by someone else is never overwritten.
const editable = () => app.catalog().layers.filter((l) => l.live && l.editable && (l.editable.create || l.editable.update));
if (editable().length) {
  const box = section('edit-box', 'edit', `
    <label><span data-staff-i18n="editLayer">${esc(s('editLayer'))}</span> <select id="edit-layer">${editable().map((l) => `<option value="${esc(l.id)}">${esc(pick(l.title))}</option>`).join('')}</select></label>
    <div class="tool-row"><button type="button" class="btn" id="edit-add" data-staff-i18n="add">${esc(s('add'))}</button></div>
    <div class="tool-row" id="edit-draw" hidden>
      <button type="button" class="btn" id="edit-finish" data-staff-i18n="finish">${esc(s('finish'))}</button>
      <button type="button" class="btn" id="edit-undo" data-staff-i18n="undo">${esc(s('undo'))}</button>
      <button type="button" class="btn" id="edit-stop" data-staff-i18n="cancel">${esc(s('cancel'))}</button>
    </div>
    <p id="edit-status" aria-live="polite" data-staff-i18n="editHint">${esc(s('editHint'))}</p>
    <form id="edit-form" hidden></form>`);
  const layerOf = (id) => app.catalog().layers.find((l) => l.id === id);
  const status = document.getElementById('edit-status');
  const form = document.getElementById('edit-form');
  const SYSTEM = ['updated_at', 'updated_by'];
  // `reshaping`: a saved feature's new place or shape is being clicked on the map (its
  // form waits, hidden, with what was typed); `saved` is the geometry it had.
  const edit = { adding: false, layer: null, id: null, etag: null, geometry: null, reshaping: false, saved: null };

  const input = (f, v) => {
    const name = `f-${f.name}`;
    const label = `<span>${esc(f.label ? pick(f.label) : f.name)}</span>`;
    const codes = Object.entries(f.values ?? {});
    if (codes.length) {
      return `<label>${label} <select name="${esc(f.name)}" id="${esc(name)}"><option value="">${esc(s('none2'))}</option>${codes.map(([k, l]) => `<option value="${esc(k)}" ${String(v) === k ? 'selected' : ''}>${esc(pick(l))}</option>`).join('')}</select></label>`;
    }
    if (f.type === 'boolean') return `<label class="check"><input type="checkbox" name="${esc(f.name)}" id="${esc(name)}" ${v === true ? 'checked' : ''}> ${label}</label>`;
    if (f.type === 'integer' || f.type === 'float') return `<label>${label} <input type="number" step="${f.type === 'integer' ? 1 : 'any'}" name="${esc(f.name)}" id="${esc(name)}" value="${v ?? ''}"></label>`;
    return `<label>${label} <textarea rows="2" name="${esc(f.name)}" id="${esc(name)}">${esc(v ?? '')}</textarea></label>`;
  };

  function showForm(layerId, props, meta) {
    const l = layerOf(layerId);
    const fields = l.fields.filter((f) => !SYSTEM.includes(f.name));
    const rights = l.editable ?? {};
    const last = meta ? `<p class="hint">${esc(s('lastChange'))}${app.lang() === 'ja' ? '：' : ': '}${esc(props.updated_by ?? '')} ${esc((props.updated_at ?? '').replace('T', ' ').slice(0, 19))}</p>` : '';
    form.innerHTML = `<h3>${esc(pick(l.title))}${meta ? ` #${esc(String(edit.id))}` : ''}</h3>${last}${fields.map((f) => input(f, props[f.name])).join('')}
      ${meta && rights.update ? `<div class="tool-row"><button type="button" class="btn" id="edit-reshape">${esc(s(l.geometry === 'point' ? 'movePoint' : 'reshape'))}</button></div>` : ''}
      <div class="tool-row"><button type="submit" class="btn">${esc(s('save'))}</button>
      ${meta && rights.delete ? `<button type="button" class="btn" id="edit-remove">${esc(s('remove'))}</button>` : ''}
      <button type="button" class="btn" id="edit-cancel">${esc(s('cancel'))}</button></div>`;
    form.hidden = false;
    form.querySelector('select, input, textarea')?.focus();
  }

  function values(layerId) {
    const out = {};
    for (const f of layerOf(layerId).fields.filter((x) => !SYSTEM.includes(x.name))) {
      const el = form.elements[f.name];
      if (!el) continue;
      if (f.type === 'boolean') out[f.name] = el.checked;
      else if (el.value === '') out[f.name] = null;
      else if (f.type === 'integer' || f.type === 'float') out[f.name] = Number(el.value);
      else out[f.name] = el.value;
    }
    return out;
  }

  const itemUrl = () => `/collections/${encodeURIComponent(edit.layer)}/items${edit.id != null ? `/${encodeURIComponent(edit.id)}` : ''}`;
  const send = (method, body) => fetch(itemUrl(), {
    method,
    headers: { ...app.authHeaders(), 'Content-Type': 'application/geo+json', ...(edit.etag ? { 'If-Match': edit.etag } : {}) },
    body: body && JSON.stringify(body),
  });

  async function open(layerId, id) {
    Object.assign(edit, { adding: false, layer: layerId, id, etag: null });
    const r = await fetch(itemUrl(), { headers: app.authHeaders() });
    if (!r.ok) { status.textContent = s('failed'); return; }
    edit.etag = r.headers.get('etag');
    const f = await r.json();
    edit.geometry = f.geometry;
    edit.saved = f.geometry;
    showForm(layerId, f.properties, true);
  }

  function close(text = '') {
    drawShape.cancel();
    document.getElementById('edit-draw').hidden = true;
    form.hidden = true;
    form.innerHTML = '';
    status.textContent = text || s('editHint');
    Object.assign(edit, { adding: false, layer: null, id: null, etag: null, geometry: null, reshaping: false, saved: null });
    app.setBusy?.(false);
    map.getCanvas().style.cursor = '';
  }

  document.getElementById('edit-add').onclick = () => {
    close();
    Object.assign(edit, { adding: true, layer: document.getElementById('edit-layer').value });
    const kind = layerOf(edit.layer).geometry;
    if (kind === 'line' || kind === 'polygon') {
      // Vertices clicked in turn, drawn as they come; Finish opens the form.
      drawShape.start(kind, (geometry) => {
        document.getElementById('edit-draw').hidden = true;
        status.textContent = '';
        edit.geometry = geometry;
        showForm(edit.layer, {}, false);
      });
      document.getElementById('edit-draw').hidden = false;
      status.textContent = s(kind === 'line' ? 'clickLine' : 'clickPolygon');
      return;
    }
    app.setBusy?.(true);
    map.getCanvas().style.cursor = 'crosshair';
    status.textContent = s('clickPlace');
  };
  document.getElementById('edit-finish').onclick = () => {
    if (!drawShape.finish()) status.textContent = s(layerOf(edit.layer).geometry === 'line' ? 'moreLine' : 'morePolygon');
  };
  document.getElementById('edit-undo').onclick = () => drawShape.undo();
  document.getElementById('edit-stop').onclick = () => (edit.reshaping ? reshaped(edit.saved, '') : close());

  // A saved feature moved (a point: one click) or redrawn (a line or an area: vertex by
  // vertex, as when adding); its form comes back with what was typed, and Save sends the
  // new geometry with the version read, like any other change.
  function reshape() {
    const kind = layerOf(edit.layer).geometry;
    edit.reshaping = true;
    form.hidden = true;
    if (kind === 'line' || kind === 'polygon') {
      drawShape.start(kind, (geometry) => reshaped(geometry, s('reshaped')));
      document.getElementById('edit-draw').hidden = false;
      status.textContent = s(kind === 'line' ? 'clickLine' : 'clickPolygon');
      return;
    }
    document.getElementById('edit-draw').hidden = false;
    document.getElementById('edit-finish').hidden = true;
    document.getElementById('edit-undo').hidden = true;
    app.setBusy?.(true);
    map.getCanvas().style.cursor = 'crosshair';
    status.textContent = s('clickNewPlace');
  }

  function reshaped(geometry, text) {
    if (geometry === edit.saved) drawShape.cancel();
    edit.geometry = geometry;
    edit.reshaping = false;
    for (const id of ['edit-draw', 'edit-finish', 'edit-undo']) document.getElementById(id).hidden = id === 'edit-draw';
    app.setBusy?.(false);
    map.getCanvas().style.cursor = '';
    status.textContent = text;
    form.hidden = false;
    form.querySelector('#edit-reshape')?.focus();
  }

  map.on('click', (e) => {
    if (edit.reshaping && layerOf(edit.layer).geometry === 'point') {
      const geometry = { type: 'Point', coordinates: [e.lngLat.lng, e.lngLat.lat] };
      // The new place is marked until the form is saved or given up.
      map.getSource('staff-draw')?.setData({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry }] });
      drawShape.shown();
      reshaped(geometry, s('reshaped'));
      return;
    }
    if (!edit.adding || edit.geometry || drawShape.drawing()) return;
    edit.geometry = { type: 'Point', coordinates: [e.lngLat.lng, e.lngLat.lat] };
    map.getCanvas().style.cursor = '';
    showForm(edit.layer, {}, false);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { type: 'Feature', geometry: edit.geometry, properties: values(edit.layer) };
    const r = await send(edit.id != null ? 'PUT' : 'POST', body);
    const j = await r.json().catch(() => ({}));
    if (r.status === 412) { await open(edit.layer, edit.id); status.textContent = s('stale'); return; } // said once the current version shows
    if (!r.ok) { status.textContent = `${s('failed')} ${j.error ?? r.status}`; return; }
    close(s('saved'));
  });
  form.addEventListener('click', async (e) => {
    if (e.target.id === 'edit-cancel') close();
    if (e.target.id === 'edit-reshape') reshape();
    if (e.target.id === 'edit-remove' && window.confirm(s('confirmRemove'))) {
      const r = await send('DELETE');
      if (r.status === 412) { await open(edit.layer, edit.id); status.textContent = s('stale'); return; }
      close(r.ok ? s('removed') : s('failed'));
    }
  });
  // A live feature clicked on the map opens in the form, when the key may change it.
  app.onIdentify?.((fc) => {
    if (edit.adding || edit.reshaping) return;
    const f = fc.features.find((x) => layerOf(x.layer)?.live && layerOf(x.layer)?.editable?.update);
    if (f) open(f.layer, f.id);
  });
}
