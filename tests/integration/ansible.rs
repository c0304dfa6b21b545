//! The Ansible-module mode under a real `ansible-playbook` (ansible-core from PyPI), with the
//! module of examples/ansible/library and with the collection of ansible/collection (built,
//! installed, documented, validated), against the real Synapse.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
    playbook_with(dir, extra, None)
}

/// The same, with the collections installed in `collections` (ANSIBLE_COLLECTIONS_PATH).
fn playbook_with(dir: &Path, extra: &[&str], collections: Option<&Path>) -> (i32, String, String) {
    let bin = ansible_bin();
    let mut cmd = Command::new(bin.join("ansible-playbook"));
    if let Some(path) = collections {
        cmd.env("ANSIBLE_COLLECTIONS_PATH", path);
    }
    let out = cmd
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

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The collection built by scripts/ansible-collection.sh around this build's binary and
/// installed with ansible-galaxy: the folder to give as ANSIBLE_COLLECTIONS_PATH.
fn installed_collection() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let bin = ansible_bin();
        let dir = scratch().join(unique("collection"));
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/ansible-collection.sh"
            ))
            .arg(dir.join("dist"))
            .env("PROVISION_BIN", env!("CARGO_BIN_EXE_provision"))
            .env("ANSIBLE_BIN", &bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let tarball = dir.join(format!(
            "dist/provision-matrix-{}.tar.gz",
            env!("CARGO_PKG_VERSION")
        ));
        assert!(
            tarball.is_file(),
            "no {}: {}",
            tarball.display(),
            text(&out)
        );
        let out = Command::new(bin.join("ansible-galaxy"))
            .args(["collection", "install"])
            .arg(&tarball)
            .arg("-p")
            .arg(dir.join("installed"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        dir.join("installed")
    })
}

/// The options the binary reads, from its own refusal of an unknown one (serde lists them).
fn options_the_binary_reads() -> Vec<String> {
    let args = write_file(
        "ansible-unknown-option.json",
        r#"{"user": "x", "no_such_option": 1, "_ansible_verbosity": 0}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_provision"))
        .arg("ansible-module")
        .arg(&args)
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["failed"], true, "{answer}");
    let msg = answer["msg"].as_str().unwrap();
    assert!(msg.contains("no_such_option"), "{msg}");
    let listed = msg.split("expected one of").nth(1).expect(msg);
    let mut names: Vec<String> = listed
        .split(',')
        .map(|n| n.trim().trim_matches('`').to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn ansible_collection_builds_installs_and_documents_every_option_the_module_reads() {
    let installed = installed_collection();
    let module = installed.join("ansible_collections/provision/matrix/plugins/modules/user");
    assert_eq!(
        std::fs::read(&module).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_provision")).unwrap(),
        "the module is the provision binary"
    );
    let galaxy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ansible/collection/galaxy.yml"
    ))
    .unwrap();
    assert!(
        galaxy.contains(&format!("\nversion: {}\n", env!("CARGO_PKG_VERSION"))),
        "galaxy.yml's version is Cargo.toml's"
    );

    let bin = ansible_bin();
    let doc = |extra: &[&str]| {
        let out = Command::new(bin.join("ansible-doc"))
            .args(extra)
            .arg("provision.matrix.user")
            .env("ANSIBLE_COLLECTIONS_PATH", installed)
            .env("ANSIBLE_NOCOLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = doc(&[]);
    for word in [
        "state",
        "update_password",
        "locked",
        "EXAMPLES",
        "RETURN VALUES",
    ] {
        assert!(shown.contains(word), "ansible-doc shows {word}:\n{shown}");
    }
    let json: serde_json::Value = serde_json::from_str(&doc(&["--json"])).unwrap();
    let module = &json["provision.matrix.user"];
    let options = module["doc"]["options"].as_object().unwrap();
    let mut documented: Vec<String> = options.keys().cloned().collect();
    documented.sort();
    assert_eq!(documented, options_the_binary_reads());
    let mut listed: Vec<String> = provision::commands::ansible::OPTIONS
        .iter()
        .map(|o| o.to_string())
        .collect();
    listed.sort();
    assert_eq!(documented, listed, "OPTIONS in src/commands/ansible.rs");
    assert_eq!(options["user"]["required"], true);
    assert_eq!(
        options["state"]["choices"],
        serde_json::json!(["present", "absent", "locked"])
    );
    assert_eq!(options["state"]["default"], "present");
    assert_eq!(options["update_password"]["default"], "on_create");
    assert_eq!(options["erase"]["default"], false);
    for key in ["msg", "hosts", "recap", "password"] {
        assert!(
            module["return"].get(key).is_some(),
            "RETURN documents {key}"
        );
    }
}

#[test]
fn ansible_test_validate_modules_passes_on_the_collection() {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/ansible.py"
        ))
        .arg("sanity")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/ansible/collection"))
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("Running sanity test \"validate-modules\""),
        "{all}"
    );
}

#[test]
fn ansible_collection_module_by_fqcn_registers_locks_and_deactivates_each_once() {
    let s = synapse();
    let collections = installed_collection();
    let inv = write_file(
        "ansible-collection-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display()
        ),
    );
    let dir = scratch().join(unique("ansible-collection"));
    std::fs::create_dir_all(&dir).unwrap();
    // One task, its state and password from the vars file; no library/ beside the play: the
    // module comes from the installed collection, by its fully qualified name.
    std::fs::write(
        dir.join("play.yml"),
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - provision.matrix.user:\n        user: \"{{{{ username }}}}\"\n        state: \"{{{{ state }}}}\"\n        password: \"{{{{ password }}}}\"\n        update_password: \"{{{{ update_password }}}}\"\n        admin: false\n        inventory: {}\n      no_log: true\n",
            inv.display()
        ),
    )
    .unwrap();
    let user = unique("collection");
    let run = |state: &str, password: &str, update: &str, extra: &[&str]| {
        std::fs::write(
            dir.join("vars.json"),
            serde_json::json!({"username": user, "state": state, "password": password,
                "update_password": update})
            .to_string(),
        )
        .unwrap();
        let (code, all, recap) = playbook_with(&dir, extra, Some(collections));
        assert_eq!(code, 0, "{state}: {all}");
        assert!(!all.contains("collection-pw"), "no password shown: {all}");
        recap
    };
    let changed = |recap: &str| recap.contains("changed=1") && recap.contains("failed=0");
    let unchanged = |recap: &str| recap.contains("ok=1") && recap.contains("changed=0");

    let recap = run("present", "collection-pw-1", "on_create", &[]);
    assert!(changed(&recap), "created: {recap}");
    assert!(s.login(&user, "collection-pw-1").is_ok());
    assert!(unchanged(&run(
        "present",
        "collection-pw-1",
        "on_create",
        &[]
    )));
    // on_create leaves an existing user's password; always sets it (and says so every time).
    assert!(unchanged(&run(
        "present",
        "collection-pw-2",
        "on_create",
        &[]
    )));
    assert!(s.login(&user, "collection-pw-2").is_err());
    assert!(changed(&run("present", "collection-pw-2", "always", &[])));
    assert!(s.login(&user, "collection-pw-2").is_ok());

    let recap = run("locked", "collection-pw-2", "on_create", &["--check"]);
    assert!(changed(&recap), "check mode says it would lock: {recap}");
    assert_eq!(
        s.record(&user).unwrap()["locked"],
        false,
        "check mode locked"
    );
    assert!(changed(&run("locked", "collection-pw-2", "on_create", &[])));
    assert_eq!(s.record(&user).unwrap()["locked"], true);
    assert!(
        s.login(&user, "collection-pw-2").is_err(),
        "a locked user logs in"
    );
    assert!(unchanged(&run(
        "locked",
        "collection-pw-2",
        "on_create",
        &[]
    )));

    assert!(changed(&run("absent", "collection-pw-2", "on_create", &[])));
    assert_eq!(s.record(&user).unwrap()["deactivated"], true);
    assert!(s.login(&user, "collection-pw-2").is_err());
    assert!(unchanged(&run(
        "absent",
        "collection-pw-2",
        "on_create",
        &[]
    )));
}
