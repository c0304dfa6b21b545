//! The inventory reader on arbitrary text: YAML and the playbook's INI form. It must answer
//! with hosts or a located error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = provision::inventory::Inventory::parse(std::path::Path::new("fuzz/inventory.yaml"), text);
    }
});
