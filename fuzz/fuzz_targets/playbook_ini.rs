//! matrix-docker-ansible-deploy's INI inventory (`inventory/hosts`) on arbitrary text, read
//! as INI whatever its first line. It must answer with hosts or a located error, never panic.
//! Host names become `host_vars/NAME.yml` paths beside a folder that does not exist.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = provision::inventory::Inventory::parse_ini(
            std::path::Path::new("fuzz/no-such-playbook/inventory/hosts"),
            text,
        );
    }
});
