//! `provision register --from FILE`: many users on several real servers, verified by logging
//! every one of them in, then re-run to show it finishes with nothing left to do.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::fixtures::{
    COUNTED, SERVER_NAME, Synapse, counted_lock, docker_synapse, json, pg_synapse, provision,
    scratch, sshd, synapse, text, unique, write_file,
};

const USERS: usize = 200;

/// Three separate Synapse servers (SQLite on the host, PostgreSQL, in a container), each a
/// host of the fleet.
fn fleet() -> [(&'static str, &'static Synapse); 3] {
    [
        ("sqlite", synapse()),
        ("postgres", pg_synapse()),
        ("container", docker_synapse()),
    ]
}

fn inventory(fleet: &[(&str, &Synapse)]) -> std::path::PathBuf {
    let mut yaml = format!(
        "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: shared-secret\n  hosts:\n"
    );
    for (name, s) in fleet {
        // The admin API converges the `admin` column on re-runs.
        yaml.push_str(&format!(
            "    {name}:\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display()
        ));
    }
    write_file("bulk-inventory.yaml", &yaml)
}

#[test]
fn bulk_registers_200_users_on_three_servers_and_a_rerun_has_nothing_to_do() {
    let fleet = fleet();
    let inv = inventory(&fleet);
    let prefix = unique("b");
    let dir = scratch().join(unique("bulk"));
    std::fs::create_dir_all(&dir).unwrap();
    // Every 4th user brings its own password file; every 10th is an admin; the rest get
    // generated passwords.
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..USERS {
        let admin = if i % 10 == 0 { "yes" } else { "no" };
        let file = if i % 4 == 0 {
            std::fs::write(dir.join(format!("u{i}.pw")), format!("own-password-{i}\n")).unwrap();
            format!("u{i}.pw")
        } else {
            String::new()
        };
        csv.push_str(&format!("{prefix}-{i},{admin},{file}\n"));
        if i == 100 {
            csv.push('\n'); // empty lines are skipped
        }
    }
    let users = dir.join("users.csv");
    std::fs::write(&users, csv).unwrap();
    let passwords_out = dir.join("passwords.csv");
    let args = [
        "register",
        "--from",
        users.to_str().unwrap(),
        "--passwords-out",
        passwords_out.to_str().unwrap(),
        "--per-host",
        "8",
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ];
    let out = provision(&args, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["users"]["changed"], USERS * 3, "{doc}");
    assert_eq!(doc["users"]["failed"], 0);
    assert_eq!(doc["recap"]["changed"], 3);
    assert_eq!(
        std::fs::metadata(&passwords_out)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let generated: std::collections::HashMap<String, String> =
        crate::fixtures::password_rows(&passwords_out)
            .into_iter()
            .collect();
    assert_eq!(generated.len(), USERS - USERS / 4);
    for pw in generated.values().take(5) {
        assert!(
            !text(&out).contains(pw.as_str()),
            "generated passwords are never printed"
        );
    }
    for (host, s) in &fleet {
        for i in 0..USERS {
            let user = format!("{prefix}-{i}");
            let password = if i % 4 == 0 {
                format!("own-password-{i}")
            } else {
                generated[&user].clone()
            };
            assert!(
                s.login(&user, &password).is_ok(),
                "{user} cannot log in on {host}"
            );
            if i % 50 == 0 {
                assert_eq!(s.admin_flag(&user), Some(i % 10 == 0), "{user} on {host}");
            }
        }
    }

    // Nothing is killed, nothing left to do: the re-run reports every user ok.
    let out = provision(&args, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["users"]["ok"], USERS * 3, "{doc}");
    assert_eq!(doc["users"]["changed"], 0);
    assert_eq!(doc["recap"]["ok"], 3);
    let again = std::fs::read_to_string(&passwords_out).unwrap();
    assert_eq!(
        again.lines().count(),
        generated.len() + 1,
        "the passwords file keeps its passwords"
    );
    assert!(again.contains(&generated[&format!("{prefix}-1")]));
}

#[test]
fn bulk_over_ssh_opens_one_connection_for_all_users() {
    let s = synapse();
    let d = sshd();
    let prefix = unique("s");
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..12 {
        csv.push_str(&format!("{prefix}-{i},,\n"));
    }
    let users = write_file("ssh-users.csv", &csv);
    let passwords_out = scratch().join(unique("ssh-passwords.csv"));
    let inv = write_file(
        "ssh-bulk.yaml",
        &format!(
            "all:\n  hosts:\n    counted:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: ssh\n      ssh: {}\n      config: {}\n      url: {}\n      command: {}\n",
            d.ssh_vars(COUNTED),
            s.config().display(),
            s.url,
            s.register_tool()
        ),
    );
    let _counting = counted_lock();
    let before = d.connections(COUNTED);
    let out = provision(
        &[
            "register",
            "--from",
            users.to_str().unwrap(),
            "--passwords-out",
            passwords_out.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["users"]["changed"], 12);
    assert_eq!(
        d.connections(COUNTED) - before,
        1,
        "one SSH connection for the whole bulk run"
    );
    let passwords = std::fs::read_to_string(&passwords_out).unwrap();
    let (user, password) = passwords.lines().nth(1).unwrap().split_once(',').unwrap();
    assert!(s.login(user, password).is_ok());
}

#[test]
fn bad_users_files_exit_2_with_the_line() {
    let s = synapse();
    let inv = inventory(&[("sqlite", s)]);
    let run = |csv: &str| {
        let users = write_file("bad-users.csv", csv);
        provision(
            &[
                "register",
                "--from",
                users.to_str().unwrap(),
                "-i",
                inv.to_str().unwrap(),
            ],
            "",
        )
    };
    let out = run("user,admin,password_file\nalice,yes,\nalice,no,\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("listed twice (first at line 2)") && text(&out).contains(".csv:3:"),
        "{}",
        text(&out)
    );
    let out = run("user,admin,password_file\nAl Ice,yes,x\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains(".csv:2:"), "{}", text(&out));
    let out = run("user,admin,password_file\nalice,yes,\n");
    assert_eq!(
        out.status.code(),
        Some(2),
        "generated passwords need somewhere to go"
    );
    assert!(text(&out).contains("--passwords-out"), "{}", text(&out));
    assert!(!Path::new("passwords.csv").exists());
}
