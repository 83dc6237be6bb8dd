//! HTML renderings of the OGC API – Features resources for people with a browser:
//! `/collections`, `/collections/{id}` and items (a table with paging links). Made from
//! the same JSON documents the API answers, so both say the same.

use std::fmt::Write as _;

use serde_json::Value;

use crate::query::hazard::Lang;

use crate::query::{html_escape as esc, json_text as text};

fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>body{{font-family:system-ui,sans-serif;margin:1rem;line-height:1.5}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2rem .5rem;text-align:left;vertical-align:top}}a{{color:#0b3d91}}</style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        if lang == Lang::Ja { "ja" } else { "en" },
        t = esc(title)
    )
}

/// A `links` array as a list, each link opened as HTML where the API offers it.
fn links(doc: &Value, skip: &[&str]) -> String {
    let mut h = String::from("<ul>");
    for l in doc["links"].as_array().into_iter().flatten() {
        let rel = l["rel"].as_str().unwrap_or("");
        if skip.contains(&rel) {
            continue;
        }
        let href = l["href"].as_str().unwrap_or("");
        let _ = write!(
            h,
            "<li><a href=\"{}\">{}</a> ({})</li>",
            esc(href),
            esc(l["title"].as_str().unwrap_or(rel)),
            esc(rel)
        );
    }
    h.push_str("</ul>");
    h
}

fn with_html(href: &str) -> String {
    let sep = if href.contains('?') { '&' } else { '?' };
    format!("{href}{sep}f=html")
}

/// `/collections` as a page.
#[must_use]
pub fn collections(doc: &Value, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    let mut h = String::from("<ul>");
    for c in doc["collections"].as_array().into_iter().flatten() {
        let id = c["id"].as_str().unwrap_or("");
        let self_href = c["links"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["rel"] == "self"))
            .and_then(|x| x["href"].as_str())
            .unwrap_or("");
        let _ = write!(
            h,
            "<li><a href=\"{}\"><strong>{}</strong></a> <code>{}</code><br>{}</li>",
            esc(&with_html(self_href)),
            esc(c["title"].as_str().unwrap_or(id)),
            esc(id),
            esc(c["description"].as_str().unwrap_or(""))
        );
    }
    h.push_str("</ul>");
    page(
        lang,
        if ja {
            "データ一覧（OGC API – Features）"
        } else {
            "Collections (OGC API – Features)"
        },
        &h,
    )
}

/// `/collections/{id}` as a page: what it is, its fields and its links.
#[must_use]
pub fn collection(doc: &Value, fields: &[(String, String, &'static str)], lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    let mut h = format!("<p>{}</p>", esc(doc["description"].as_str().unwrap_or("")));
    let items = doc["links"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["rel"] == "items"))
        .and_then(|x| x["href"].as_str())
        .unwrap_or("");
    let _ =
        write!(
        h,
        "<p><a href=\"{}\">{}</a></p><h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(&with_html(items)),
        if ja { "地物を表で見る" } else { "Browse the features" },
        if ja { "属性" } else { "Fields" },
        if ja { "名前" } else { "Name" },
        if ja { "ラベル" } else { "Label" },
        if ja { "型" } else { "Type" },
    );
    for (name, label, kind) in fields {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{kind}</td></tr>",
            esc(name),
            esc(label)
        );
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        if ja { "リンク" } else { "Links" },
        links(doc, &["self"])
    );
    page(lang, doc["title"].as_str().unwrap_or(""), &h)
}

/// An items page as a table, with its paging links.
#[must_use]
pub fn items(doc: &Value, title: &str, lang: Lang) -> String {
    let ja = lang == Lang::Ja;
    let features = doc["features"].as_array().cloned().unwrap_or_default();
    let mut cols: Vec<String> = Vec::new();
    for f in &features {
        for k in f["properties"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
        {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let mut h = format!(
        "<p>{} {} / {} {}</p><table><tr><th>id</th>",
        doc["numberReturned"],
        if ja { "件を表示" } else { "shown" },
        doc["numberMatched"],
        if ja { "件" } else { "matched" },
    );
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for f in &features {
        let _ = write!(h, "<tr><td>{}</td>", esc(&text(&f["id"])));
        for c in &cols {
            let _ = write!(h, "<td>{}</td>", esc(&text(&f["properties"][c.as_str()])));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h.push_str(&links(doc, &["self"]));
    page(lang, title, &h)
}
