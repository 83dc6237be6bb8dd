#!/usr/bin/env python3
"""Converts a Geolonia japanese-addresses city file (JSON array of {town, koaza, lat, lng})
into the CSV chizu reads as a point layer (緯度/経度 columns). Usage:
    scripts/geolonia-to-csv.py IN.json OUT.csv
"""
import csv
import json
import sys

rows = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["町丁目", "小字", "緯度", "経度"])
    for r in rows:
        w.writerow([r["town"], r.get("koaza", ""), r["lat"], r["lng"]])
