//! The HTTP side of `bench/compare.sh`: requests every tile of a list exactly once from a
//! tile server, `concurrency` keep-alive connections pulling from a shared counter, and
//! prints one JSON line: tiles/s, p50/p99/max latency, bytes, statuses.
//!
//! `bench_client HOST:PORT TEMPLATE TILES.txt CONCURRENCY [HEADER: VALUE]…`
//! where TEMPLATE is a path with `{z}`, `{x}`, `{y}`, e.g. `/tiles/a,b/{z}/{x}/{y}.mvt`.
//!
//! A plain HTTP/1.1 client on std sockets (Content-Length and chunked bodies), so the
//! measurement does not depend on any server's own client library.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(s),
        })
    }

    /// One GET; returns (status, body bytes).
    fn get(&mut self, host: &str, path: &str, headers: &[String]) -> std::io::Result<(u16, usize)> {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse::<usize>().ok();
                } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(std::io::Error::other)?;
                let start = body.len();
                body.resize(start + n, 0);
                self.reader.read_exact(&mut body[start..])?;
                line.clear();
                self.reader.read_line(&mut line)?; // CRLF after the chunk
                if n == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            self.reader.read_exact(&mut body)?;
        } else if status != 204 && status != 304 {
            return Err(std::io::Error::other("no Content-Length and not chunked"));
        }
        Ok((status, body.len()))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 5,
        "usage: bench_client HOST:PORT TEMPLATE TILES.txt CONCURRENCY [HEADER: VALUE]…"
    );
    let (addr, template) = (&args[1], &args[2]);
    let tiles: Vec<String> = std::fs::read_to_string(&args[3])
        .expect("tile list")
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    let concurrency: usize = args[4].parse().expect("concurrency");
    let headers: Vec<String> = args[5..].to_vec();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(tiles.len()));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let mut conn = Conn::open(addr).expect("connect");
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = tiles.get(i) else { break };
                    let mut zxy = t.split('/');
                    let (z, x, y) = (
                        zxy.next().unwrap_or("0"),
                        zxy.next().unwrap_or("0"),
                        zxy.next().unwrap_or("0"),
                    );
                    let path = template
                        .replace("{z}", z)
                        .replace("{x}", x)
                        .replace("{y}", y);
                    let t0 = Instant::now();
                    let r = conn.get(addr, &path, &headers).expect("request");
                    mine.push((t0.elapsed(), r.0, r.1));
                }
                results.lock().expect("results").extend(mine);
            });
        }
    });
    let wall = started.elapsed();
    let mut r = results.into_inner().expect("results");
    r.sort_by_key(|x| x.0);
    let pct = |p: f64| -> Duration { r[((r.len() - 1) as f64 * p).round() as usize].0 };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let bytes: usize = r.iter().map(|x| x.2).sum();
    let ok = r.iter().filter(|x| x.1 == 200).count();
    let empty = r.iter().filter(|x| x.1 == 204).count();
    println!(
        "{{\"tiles\":{},\"secs\":{:.3},\"tiles_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2},\"bytes\":{},\"status_200\":{},\"status_204\":{},\"other\":{}}}",
        r.len(),
        wall.as_secs_f64(),
        r.len() as f64 / wall.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(r[r.len() - 1].0),
        bytes,
        ok,
        empty,
        r.len() - ok - empty
    );
}
