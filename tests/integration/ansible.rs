//! The Ansible-module mode under a real `ansible-playbook` (ansible-core from PyPI), with the
//! module of examples/ansible/library, against the real Synapse.

use std::path::Path;
use std::process::Command;

use crate::fixtures::{SERVER_NAME, scratch, synapse, unique, write_file};

fn ansible_bin() -> std::path::PathBuf {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/ansible.py"
        ))
        .arg("venv")
        .output()
        .expect("python3 runs tests/support/ansible.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// Runs the playbook; returns (exit code, stdout+stderr, the recap line).
fn playbook(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let bin = ansible_bin();
    let out = Command::new(bin.join("ansible-playbook"))
        .args(["-i", "localhost,", "play.yml", "-e", "@vars.json"])
        .args(extra)
        .current_dir(dir)
        .env("PROVISION_BIN", env!("CARGO_BIN_EXE_provision"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_PYTHON_INTERPRETER", bin.join("python"))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let recap = all
        .lines()
        .find(|l| l.starts_with("localhost") && l.contains("changed="))
        .unwrap_or("")
        .to_owned();
    (out.status.code().unwrap_or(-1), all, recap)
}

#[test]
fn ansible_playbook_registers_through_the_module_and_is_idempotent() {
    let s = synapse();
    let inv = write_file(
        "ansible-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display()
        ),
    );
    let dir = scratch().join(unique("ansible"));
    std::fs::create_dir_all(dir.join("library")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/ansible/library/provision_user"
        ),
        dir.join("library/provision_user"),
    )
    .unwrap();
    std::fs::write(
        dir.join("play.yml"),
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - provision_user:\n        user: \"{{{{ username }}}}\"\n        password: \"{{{{ password }}}}\"\n        admin: true\n        inventory: {}\n      no_log: true\n",
            inv.display()
        ),
    )
    .unwrap();
    let user = unique("ansible");
    // The password reaches Ansible from a vars file, not its command line.
    std::fs::write(
        dir.join("vars.json"),
        serde_json::json!({"username": user, "password": "ansible-secret-pw"}).to_string(),
    )
    .unwrap();

    let (code, all, recap) = playbook(&dir, &["--check"]);
    assert_eq!(code, 0, "{all}");
    assert!(
        recap.contains("changed=1"),
        "check mode reports the change: {recap}\n{all}"
    );
    assert_eq!(s.admin_flag(&user), None, "check mode changed nothing");

    let (code, all, recap) = playbook(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        recap.contains("changed=1") && recap.contains("failed=0"),
        "{recap}\n{all}"
    );
    assert!(!all.contains("ansible-secret-pw"));
    assert!(s.login(&user, "ansible-secret-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));

    let (code, all, recap) = playbook(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        recap.contains("ok=1") && recap.contains("changed=0"),
        "a second run changes nothing: {recap}\n{all}"
    );

    // A failure is Ansible's failure, with provision's reason.
    std::fs::write(
        dir.join("vars.json"),
        serde_json::json!({"username": "Bad User", "password": "x"}).to_string(),
    )
    .unwrap();
    let (code, all, recap) = playbook(&dir, &[]);
    assert_ne!(code, 0, "{all}");
    assert!(recap.contains("failed=1"), "{recap}\n{all}");
}
