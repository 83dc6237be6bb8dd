//! Attacks a running `chizu serve` on loopback the way a city's tester did before going
//! live, and prints, per attack, what the server held (peak and final RSS, descriptors)
//! and how the **internal** listener's `/health/live` answered meanwhile (p50/p99/max and
//! failures). Bounded in count and time; for `bench/abuse.sh`.
//!
//! `cargo run --release --example abuse -- PID PUBLIC INTERNAL KEY COMPOSITE_LAYERS ITEMS_LAYER`
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::too_many_lines)] // a command-line tool

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// One GET, reading the whole answer; returns the status (0 on failure).
fn get(addr: &str, path: &str, key: Option<&str>, timeout: Duration) -> u16 {
    let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().expect("addr"), timeout) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    if write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Accept-Encoding: gzip\r\nConnection: close\r\n\r\n").is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).to_string();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Samples the server and probes the staff listener while an attack runs.
struct Watch {
    stop: Arc<AtomicBool>,
    peak_rss: Arc<Mutex<f64>>,
    peak_fds: Arc<AtomicU64>,
    lat: Arc<Mutex<Vec<f64>>>,
    fail: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(pid: u32, internal: &str, key: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(Mutex::new(0.0_f64));
        let peak_fds = Arc::new(AtomicU64::new(0));
        let lat = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        {
            let (stop, peak_rss, peak_fds) = (stop.clone(), peak_rss.clone(), peak_fds.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = rss_mib(pid);
                    if let Ok(mut p) = peak_rss.lock() {
                        *p = (*p).max(r);
                    }
                    peak_fds.fetch_max(fds(pid) as u64, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        {
            let (stop, lat, fail) = (stop.clone(), lat.clone(), fail.clone());
            let (internal, key) = (internal.to_string(), key.to_string());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let code = get(
                        &internal,
                        "/health/live",
                        Some(&key),
                        Duration::from_secs(2),
                    );
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if code == 200 {
                        if let Ok(mut l) = lat.lock() {
                            l.push(ms);
                        }
                    } else {
                        fail.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        Self {
            stop,
            peak_rss,
            peak_fds,
            lat,
            fail,
            threads,
        }
    }

    fn finish(self, pid: u32, name: &str, counts: &str) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let mut l = self.lat.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| {
            l.get(((l.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        std::thread::sleep(Duration::from_secs(2));
        println!(
            "| {name} | {counts} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {} |",
            self.peak_rss.lock().map_or(0.0, |p| *p),
            rss_mib(pid),
            self.peak_fds.load(Ordering::Relaxed),
            q(0.5),
            q(0.99),
            l.last().copied().unwrap_or(f64::NAN),
            self.fail.load(Ordering::Relaxed),
        );
    }
}

fn tally(codes: &[u16]) -> String {
    let ok = codes.iter().filter(|c| **c == 200 || **c == 204).count();
    let shed = codes.iter().filter(|c| **c == 503).count();
    format!(
        "{} sent: {ok} ok, {shed} × 503, {} other",
        codes.len(),
        codes.len() - ok - shed
    )
}

/// Runs `n` requests from `clients` threads, `path(i)` each.
fn flood(addr: &str, clients: usize, n: usize, path: impl Fn(usize) -> String + Sync) -> Vec<u16> {
    let next = AtomicU64::new(0);
    let codes = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                let c = get(addr, &path(i), None, Duration::from_secs(60));
                if let Ok(mut v) = codes.lock() {
                    v.push(c);
                }
            });
        }
    });
    codes.into_inner().unwrap_or_default()
}

/// A small deterministic generator (no dependency for a benchmark client).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [pid, public, internal, key, layers, items] = a.as_slice() else {
        eprintln!("usage: abuse PID PUBLIC INTERNAL KEY COMPOSITE_LAYERS ITEMS_LAYER");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().expect("pid");
    let layers: Vec<&str> = layers.split(',').collect();
    println!("| attack | requests | peak RSS MiB | RSS after MiB | peak fds | staff p50 ms | staff p99 ms | staff max ms | staff failures |");
    println!("|---|---|---|---|---|---|---|---|---|");

    // Idle baseline.
    let w = Watch::start(pid, internal, key);
    std::thread::sleep(Duration::from_secs(3));
    w.finish(pid, "idle", "0");

    // 5. Shuffled low-zoom composites (each order of the same layers was a new cut).
    for clients in [64, 256] {
        let mut rng = Rng(clients as u64 * 7919 + 1);
        let paths: Vec<String> = (0..2000)
            .map(|_| {
                let z = 8 + (rng.next() % 5) as u32;
                // Around the synthetic city's centre (lon 139.70, lat 35.68).
                let n = f64::from(1u32 << z);
                let cx = ((139.70 + 180.0) / 360.0 * n) as u32;
                let lat = 35.68f64.to_radians();
                let cy = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0
                    * n) as u32;
                let x = cx + (rng.next() % 3) as u32;
                let y = cy + (rng.next() % 3) as u32;
                let mut ls = layers.clone();
                for i in (1..ls.len()).rev() {
                    ls.swap(i, (rng.next() % (i as u64 + 1)) as usize);
                }
                let k = 2 + (rng.next() as usize % (ls.len() - 1));
                format!("/tiles/{}/{z}/{x}/{y}.mvt", ls[..k].join(","))
            })
            .collect();
        let w = Watch::start(pid, internal, key);
        let codes = flood(public, clients, paths.len(), |i| paths[i].clone());
        w.finish(
            pid,
            &format!("2,000 shuffled z8–12 composites, {clients} clients"),
            &tally(&codes),
        );
    }

    // 6. Clients that never read a large answer.
    {
        let w = Watch::start(pid, internal, key);
        let mut held = Vec::new();
        let mut answered = Vec::new();
        for _ in 0..60 {
            if let Ok(mut s) = TcpStream::connect(public) {
                let _ = write!(
                    s,
                    "GET /collections/{items}/items?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                );
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(5));
        for s in &mut held {
            let mut head = [0u8; 12];
            answered.push(if s.read_exact(&mut head).is_ok() {
                String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0)
            } else {
                0
            });
        }
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
        w.finish(
            pid,
            "60 clients not reading items?limit=1000 (15 s)",
            &tally(&answered),
        );
    }

    // 7. Slowloris and idle connections.
    {
        let w = Watch::start(pid, internal, key);
        let mut socks: Vec<TcpStream> = (0..300)
            .filter_map(|_| TcpStream::connect(public).ok())
            .collect();
        for s in &mut socks {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            for s in &mut socks {
                let _ = s.write_all(b"X-A: b\r\n");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let mut closed = 0;
        for s in &mut socks {
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            let mut b = [0u8; 256];
            closed += match s.read(&mut b) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    0
                }
                _ => 1,
            };
        }
        drop(socks);
        w.finish(
            pid,
            "300 slowloris sockets, 15 s",
            &format!("{closed} of 300 closed by the server"),
        );
    }
    {
        let w = Watch::start(pid, internal, key);
        let socks: Vec<TcpStream> = (0..1100)
            .filter_map(|_| {
                TcpStream::connect_timeout(
                    &public.parse().expect("addr"),
                    Duration::from_millis(500),
                )
                .ok()
            })
            .collect();
        std::thread::sleep(Duration::from_secs(5));
        let staff = get(internal, "/health/live", Some(key), Duration::from_secs(3));
        let n = socks.len();
        drop(socks);
        w.finish(
            pid,
            "1,100 idle public connections",
            &format!("{n} opened; staff /health/live during: {staff}"),
        );
    }

    // 8. Heavy anonymous work: item pages and whole-layer downloads.
    {
        let w = Watch::start(pid, internal, key);
        let codes = flood(public, 32, 64, |_| {
            format!("/collections/{items}/items?limit=1000")
        });
        w.finish(
            pid,
            "32 concurrent items?limit=1000 (64 requests)",
            &tally(&codes),
        );
    }
    {
        let w = Watch::start(pid, internal, key);
        let codes = flood(public, 200, 400, |_| format!("/download/{items}.geojson"));
        w.finish(
            pid,
            "200 concurrent downloads (400 requests)",
            &tally(&codes),
        );
    }
}
