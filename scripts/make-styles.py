#!/usr/bin/env python3
"""Writes styles/public.json and styles/internal.json (MapLibre style spec v8).

Colours follow MLIT's ハザードマップ作成の手引き conventions (flood depth: pale yellow → pink →
purple; 土砂災害警戒区域 yellow, 特別警戒区域 red) and the customary 用途地域 colours. The
vector source is written as `"url": "chizu:"`: chizu replaces it with a TileJSON URL for
the layers the caller's view may see, and drops style layers it may not. No `glyphs`:
MapLibre renders labels with the device's fonts (offline-safe, Japanese included).
Rerun after editing: scripts/make-styles.py
"""
import json

DEPTH = ["#F7F5A9", "#FFD8C0", "#FFB7B7", "#FF9191", "#F285C9", "#DC7ADC"]
DURATION = ["#E3F2FD", "#BBDEFB", "#90CAF9", "#64B5F6", "#42A5F5", "#1E88E5", "#1565C0"]
INLAND = ["#E0F7FA", "#B2EBF2", "#80DEEA", "#4DD0E1", "#26C6DA", "#00ACC1"]
ZONES = {1: "#00A05A", 2: "#64C882", 3: "#78D23C", 4: "#B4E150", 5: "#FFF050", 6: "#FFD750",
         7: "#FFC896", 9: "#FFB4C8", 10: "#FF6E82", 11: "#C8A0DC", 12: "#A0D2F0", 13: "#64A0DC"}
FONT = ["sans-serif"]


def step(field, colours, default="#cccccc"):
    expr = ["match", ["get", field]]
    for i, c in enumerate(colours, start=1):
        expr += [i, c]
    return expr + [default]


def layer(id, chizu, type, paint, layout=None, minzoom=None, filter=None, visible=True):
    l = {"id": id, "type": type, "source": "chizu", "source-layer": chizu,
         "metadata": {"chizu:layer": chizu}, "paint": paint}
    lay = dict(layout or {})
    if not visible:
        lay["visibility"] = "none"
    if lay:
        l["layout"] = lay
    if minzoom is not None:
        l["minzoom"] = minzoom
    if filter is not None:
        l["filter"] = filter
    return l


def public_layers():
    zone = ["match", ["get", "zone_code"]]
    for k, c in ZONES.items():
        zone += [k, c]
    zone.append("#dddddd")
    return [
        layer("youto-chiiki-fill", "youto_chiiki", "fill", {"fill-color": zone, "fill-opacity": 0.45}),
        layer("youto-chiiki-line", "youto_chiiki", "line", {"line-color": "#7a7a7a", "line-width": 0.5}, minzoom=13),
        layer("shikichi-saitei-line", "shikichi_saitei", "line", {"line-color": "#8e44ad", "line-width": 1.5, "line-dasharray": [2, 1]}, visible=False),
        layer("gyousei-kuikikai-line", "gyousei_kuikikai", "line", {"line-color": "#555555", "line-width": 1, "line-dasharray": [3, 2]}),
        layer("kouzui-keizoku-fill", "kouzui_keizoku", "fill", {"fill-color": step("duration_rank", DURATION), "fill-opacity": 0.6}, visible=False),
        layer("naisui-fill", "naisui", "fill", {"fill-color": step("depth_rank", INLAND), "fill-opacity": 0.6}, visible=False),
        layer("kouzui-shinsui-fill", "kouzui_shinsui", "fill", {"fill-color": step("depth_rank", DEPTH), "fill-opacity": 0.75}),
        layer("kaoku-toukai-fill", "kaoku_toukai", "fill", {"fill-color": ["match", ["get", "cause"], "河岸侵食", "#8B0000", "#E60000"], "fill-opacity": 0.35}),
        layer("jisuberi-boushi-fill", "jisuberi_boushi", "fill", {"fill-color": "#A0522D", "fill-opacity": 0.3}),
        layer("dosha-keikai-fill", "dosha_keikai", "fill", {"fill-color": "#FFE800", "fill-opacity": 0.5}),
        layer("dosha-keikai-line", "dosha_keikai", "line", {"line-color": "#E6A800", "line-width": 1}),
        layer("dosha-tokubetsu-fill", "dosha_tokubetsu", "fill", {"fill-color": "#FF0000", "fill-opacity": 0.5}),
        layer("dosha-tokubetsu-line", "dosha_tokubetsu", "line", {"line-color": "#C80000", "line-width": 1}),
        layer("toshi-keikaku-douro-line", "toshi_keikaku_douro", "line", {"line-color": "#D2691E", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.5, 16, 3]}),
        layer("kinkyu-yusouro-line", "kinkyu_yusouro", "line", {
            "line-color": ["match", ["get", "route_rank"], 1, "#E53935", 2, "#FB8C00", "#FDD835"],
            "line-width": ["interpolate", ["linear"], ["zoom"], 8, 1, 16, 5]}),
        layer("choume-label", "choume", "symbol", {"text-color": "#333333", "text-halo-color": "#ffffff", "text-halo-width": 1.5},
              layout={"text-field": ["get", "town"], "text-font": FONT, "text-size": 12}, minzoom=13),
        layer("tsunami-hinan-biru-point", "tsunami_hinan_biru", "circle",
              {"circle-color": "#6A1B9A", "circle-radius": 5, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5}, minzoom=13, visible=False),
        layer("kinkyu-hinan-basho-point", "kinkyu_hinan_basho", "circle",
              {"circle-color": "#1565C0", "circle-radius": 6, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2}),
        layer("hinanjo-point", "hinanjo", "circle",
              {"circle-color": "#2E7D32", "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 4, 16, 8], "circle-stroke-color": "#ffffff", "circle-stroke-width": 2}),
        layer("hinanjo-label", "hinanjo", "symbol", {"text-color": "#1B5E20", "text-halo-color": "#ffffff", "text-halo-width": 1.5},
              layout={"text-field": ["get", "name"], "text-font": FONT, "text-size": 12, "text-offset": [0, 1.2], "text-anchor": "top", "text-optional": True}, minzoom=14),
    ]


def internal_layers():
    return [
        layer("shinsui-rireki-fill", "shinsui_rireki", "fill", {"fill-color": "#0D47A1", "fill-opacity": 0.35}),
        layer("shinsui-rireki-line", "shinsui_rireki", "line", {"line-color": "#0D47A1", "line-width": 1}),
        layer("kousaten-fill", "kousaten", "fill", {"fill-color": "#546E7A", "fill-opacity": 0.5}),
        layer("kukakusen-line", "kukakusen", "line", {"line-color": "#F57F17", "line-width": 2}),
    ]


def style(name, view, layers):
    return {
        "version": 8,
        "name": name,
        "metadata": {"chizu:view": view},
        "center": [138.30, 34.86],
        "zoom": 12,
        "sources": {"chizu": {"type": "vector", "url": "chizu:"}},
        "layers": [{"id": "background", "type": "background", "paint": {"background-color": "#F4F1EA"}}] + layers,
    }


pub = public_layers()
# Shelters stay on top of the staff layers too.
points = [l for l in pub if l["type"] in ("circle", "symbol")]
areas = [l for l in pub if l not in points]
json.dump(style("焼津市 公開型GIS", "public", pub), open("styles/public.json", "w", encoding="utf-8"), ensure_ascii=False, indent=2)
json.dump(style("焼津市 統合型GIS", "internal", areas + internal_layers() + points), open("styles/internal.json", "w", encoding="utf-8"), ensure_ascii=False, indent=2)
