// Writes to a live layer of a running `chizu serve`, for bench/live.sh.
//   node bench/live-writes.mjs burst   INTERNAL KEY SECONDS CONCURRENCY  → writes/s, latency
//   node bench/live-writes.mjs rate    INTERNAL KEY SECONDS PER_SECOND   → a steady stream
//   node bench/live-writes.mjs visible INTERNAL KEY PUBLIC N             → write → tile latency
// Features go to the sample's `saigai_houkoku` layer around the city centre.
const [mode, internal, key, a, b] = process.argv.slice(2);
const LAYER = '/collections/saigai_houkoku/items';
const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/geo+json' };
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

function feature(n, extra = {}) {
  const lon = 138.28 + (n % 97) * 0.0007;
  const lat = 34.84 + (Math.floor(n / 97) % 61) * 0.0007;
  return { type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: { kind: '冠水', public: true, note: `bench ${n}`, ...extra } };
}

async function post(n) {
  const t0 = process.hrtime.bigint();
  const r = await fetch(`${internal}${LAYER}`, { method: 'POST', headers, body: JSON.stringify(feature(n)) });
  const body = await r.json();
  if (r.status !== 201) throw new Error(`write answered ${r.status}: ${JSON.stringify(body)}`);
  return [ms(t0), body];
}

function tileOf(lon, lat, z) {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const r = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return [z, x, y];
}

if (mode === 'burst') {
  const until = Date.now() + Number(a) * 1000;
  const lat = [];
  let n = 0;
  await Promise.all(Array.from({ length: Number(b) }, async () => {
    while (Date.now() < until) lat.push((await post(n++))[0]);
  }));
  lat.sort((x, y) => x - y);
  console.log(JSON.stringify({ writes: lat.length, per_s: +(lat.length / Number(a)).toFixed(1), p50_ms: +q(lat, 0.5).toFixed(2), p99_ms: +q(lat, 0.99).toFixed(2) }));
} else if (mode === 'rate') {
  const until = Date.now() + Number(a) * 1000;
  const gap = 1000 / Number(b);
  let n = 100000;
  let done = 0;
  while (Date.now() < until) {
    const t = Date.now();
    await post(n++);
    done++;
    await new Promise((res) => setTimeout(res, Math.max(0, gap - (Date.now() - t))));
  }
  console.log(JSON.stringify({ steady_writes: done, per_s: +(done / Number(a)).toFixed(1) }));
} else if (mode === 'visible') {
  const pub = b ? a : a;
  const count = Number(b);
  const [, created] = await post(200000);
  const id = created.id;
  const [lon, lat] = created.geometry.coordinates;
  const [z, x, y] = tileOf(lon, lat, 15);
  let version = 1;
  const lat2 = [];
  for (let i = 0; i < count; i++) {
    const note = `visible ${i} ${Math.random().toString(36).slice(2)}`;
    const t0 = process.hrtime.bigint();
    const r = await fetch(`${internal}${LAYER}/${id}`, { method: 'PATCH', headers: { ...headers, 'If-Match': `"${version}"` }, body: JSON.stringify({ type: 'Feature', properties: { note } }) });
    if (r.status !== 200) throw new Error(`patch answered ${r.status}`);
    version = Number(JSON.parse(r.headers.get('etag')));
    await r.arrayBuffer();
    for (;;) {
      const t = await fetch(`${pub}/tiles/saigai_houkoku/${z}/${x}/${y}.mvt`);
      const bytes = Buffer.from(await t.arrayBuffer());
      if (bytes.includes(Buffer.from(note))) break;
      if (ms(t0) > 10000) throw new Error('the edit never reached the public tile');
    }
    lat2.push(ms(t0));
  }
  lat2.sort((p, s) => p - s);
  console.log(JSON.stringify({ edits: count, visible_p50_ms: +q(lat2, 0.5).toFixed(2), visible_p99_ms: +q(lat2, 0.99).toFixed(2) }));
}
