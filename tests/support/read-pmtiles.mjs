// An independent PMTiles reader for the export tests: npm `pmtiles` reads the archive,
// @mapbox/vector-tile decodes every tile. Prints a JSON summary.
import fs from 'node:fs';
import { PMTiles } from 'pmtiles';
import { VectorTile } from '@mapbox/vector-tile';
import Pbf from 'pbf';

class FileSource {
  constructor(path) { this.path = path; this.fd = fs.openSync(path, 'r'); }
  getKey() { return this.path; }
  async getBytes(offset, length) {
    const buf = Buffer.alloc(length);
    fs.readSync(this.fd, buf, 0, length, offset);
    return { data: buf.buffer.slice(buf.byteOffset, buf.byteOffset + length) };
  }
}

const p = new PMTiles(new FileSource(process.argv[2]));
const header = await p.getHeader();
const metadata = await p.getMetadata();
let tiles = 0;
let features = 0;
const layers = new Set();
for (let z = header.minZoom; z <= header.maxZoom; z++) {
  const n = 2 ** z;
  const [x0, x1] = [Math.floor((header.minLon + 180) / 360 * n), Math.floor((header.maxLon + 180) / 360 * n)];
  const lat = (d) => Math.floor((1 - Math.log(Math.tan(d * Math.PI / 180) + 1 / Math.cos(d * Math.PI / 180)) / Math.PI) / 2 * n);
  const [y0, y1] = [lat(header.maxLat), lat(header.minLat)];
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) {
    const t = await p.getZxy(z, x, y);
    if (!t) continue;
    const vt = new VectorTile(new Pbf(new Uint8Array(t.data)));
    for (const name of Object.keys(vt.layers)) {
      layers.add(name);
      const l = vt.layers[name];
      for (let i = 0; i < l.length; i++) { l.feature(i).loadGeometry(); features++; }
    }
    tiles++;
  }
}
console.log(JSON.stringify({ specVersion: header.specVersion, tileType: header.tileType, minZoom: header.minZoom, maxZoom: header.maxZoom, tiles, features, layers: [...layers].sort(), vector_layers: metadata.vector_layers.map((l) => l.id) }));
