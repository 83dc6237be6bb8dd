//! The upper bound of `bench/compare.sh`'s warm-serving run: an axum server on tokio that
//! answers every GET with the same bytes (a real gzip tile read from a file), doing no work
//! at all — what chizu's cached path is compared against.
//!
//! `bench_fixed_server 127.0.0.1:PORT TILE.gz`
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .expect("usage: bench_fixed_server ADDR FILE")
        .clone();
    let body = Bytes::from(std::fs::read(args.get(2).expect("file")).expect("read"));
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "application/vnd.mapbox-vector-tile"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("fixed-bytes server on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
