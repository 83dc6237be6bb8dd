//! `chizu reload [--accept LAYER]…`: asks a running server (its internal listener, with an
//! admin key) to reload now, taking the named layers' new files even where they hold far
//! fewer features than the snapshot serving.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

pub fn run(url: &str, key: &str, accept: &[String]) -> anyhow::Result<ExitCode> {
    for id in accept {
        chizu::config::LayerId::parse(id).map_err(anyhow::Error::msg)?;
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        anyhow::anyhow!("{url}: expected an http:// URL of the internal listener")
    })?;
    let host = rest.trim_end_matches('/');
    let path = if accept.is_empty() {
        "/admin/reload".to_string()
    } else {
        format!("/admin/reload?accept={}", accept.join(","))
    };
    let mut s = std::net::TcpStream::connect(host)
        .map_err(|e| anyhow::anyhow!("cannot reach {host}: {e} (is `chizu serve` running?)"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(600)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nAccept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1).unwrap_or("?");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", body.trim())?;
    match status {
        "200" => Ok(ExitCode::SUCCESS),
        "401" => anyhow::bail!("the key was refused"),
        "404" => {
            anyhow::bail!("the key is not an admin key (or this is not the internal listener)")
        }
        s => anyhow::bail!("the server answered {s}"),
    }
}
