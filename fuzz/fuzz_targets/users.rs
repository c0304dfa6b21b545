//! The users file (`register --from`, `plan`) on arbitrary text, in both forms: the
//! first byte picks CSV or YAML. It must answer with users or a located error, never panic,
//! and every user it accepts must be a valid Matrix name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((form, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = if form & 1 == 0 { "fuzz/users.csv" } else { "fuzz/users.yaml" };
    if let Ok(file) = provision::users::parse(std::path::Path::new(path), text) {
        for user in file.users {
            assert!(provision_backends::user_id::UserArg::parse(&user.name).is_ok());
        }
    }
});
