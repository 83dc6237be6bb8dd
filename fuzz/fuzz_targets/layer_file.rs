//! Any bytes as a layer file: parsing and validation must return a value or an error,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chizu::config::LayerDef::from_toml(std::path::Path::new("layers/fuzz.toml"), text);
    }
});
