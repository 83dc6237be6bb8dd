//! chizu's integration tests, in one binary so GDAL links once.

mod cli;
mod common;
mod http_routes;
mod props;
mod real_tiles;
mod reproject;
