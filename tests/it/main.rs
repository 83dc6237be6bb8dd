//! chizu's integration tests, in one binary so GDAL links once.
#![allow(
    clippy::items_after_statements,
    clippy::manual_range_contains,
    clippy::type_complexity,
    clippy::too_many_lines,
    clippy::float_cmp,
    clippy::case_sensitive_file_extension_comparisons
)]

mod cities;
mod cli;
mod common;
mod cql2;
mod export;
mod generalise;
mod hardening;
mod http_routes;
mod land;
mod leak;
mod live;
mod live_pg;
mod live_sensor;
mod props;
mod queries;
mod real_tiles;
mod reliability;
mod reload;
mod report;
mod reproject;
mod views;
