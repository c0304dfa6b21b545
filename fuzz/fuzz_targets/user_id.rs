//! The user-ID validator on arbitrary text: accepted IDs must round-trip and stay within the
//! grammar; everything else is an error message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provision_backends::user_id::UserArg;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(user) = UserArg::parse(text) {
        let localpart = user.localpart();
        assert!(!localpart.is_empty() && !localpart.starts_with('_'));
        assert!(localpart.bytes().all(|b| b"abcdefghijklmnopqrstuvwxyz0123456789._=-/+".contains(&b)));
        if let Ok(id) = user.on_server("example.com") {
            assert!(id.to_string().len() <= 255);
            assert_eq!(UserArg::parse(&id.to_string()).map(|u| u.localpart().to_owned()), Ok(localpart.to_owned()));
        }
    }
});
