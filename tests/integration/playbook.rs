//! A matrix-docker-ansible-deploy inventory, read as it is: the INI hosts file and
//! host_vars/<host>/vars.yml in the playbook's documented layout, pointing at a real sshd host
//! whose Docker runs a `matrix-synapse` container laid out as the playbook's.

use crate::fixtures::{
    DOCKER_DATABASE, FLEET, SERVER_NAME, docker_synapse, json, postgres, provision, scratch, sshd,
    text, unique,
};

fn playbook_inventory(extra_vars: &str) -> std::path::PathBuf {
    let s = docker_synapse();
    let d = sshd();
    let dir = scratch().join(unique("playbook"));
    let port = s.url.rsplit(':').next().unwrap();
    std::fs::create_dir_all(dir.join("inventory/host_vars/matrix.test")).unwrap();
    std::fs::write(
        dir.join("inventory/hosts"),
        format!(
            "[matrix_servers]\nmatrix.test ansible_host={} ansible_port={} ansible_ssh_user=root ansible_ssh_private_key_file={} ansible_ssh_common_args='-o UserKnownHostsFile={}'\n",
            FLEET[0],
            d.port,
            d.dir.join("id_ed25519").display(),
            d.dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("inventory/host_vars/matrix.test/vars.yml"),
        format!(
            "---\nmatrix_domain: {SERVER_NAME}\nmatrix_homeserver_implementation: synapse\nmatrix_authentication_service_enabled: false\n{}",
            if extra_vars.contains("client_api_port") {
                extra_vars.to_owned()
            } else {
                format!("matrix_synapse_container_client_api_port: {port}\n{extra_vars}")
            }
        ),
    )
    .unwrap();
    dir.join("inventory/hosts")
}

#[test]
fn a_playbook_inventory_is_planned_pinged_and_used_as_it_is() {
    let s = docker_synapse();
    // This test host has no playbook PostgreSQL (/matrix/postgres/bin/…): say so the playbook's way.
    let hosts = playbook_inventory("devture_postgres_enabled: false\n");
    let inv = hosts.to_str().unwrap();

    let out = provision(&["-i", inv, "inventory", "--output", "json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = &json(&out)["hosts"][0];
    assert_eq!(plan["host"], "matrix.test");
    assert_eq!(plan["server_name"], SERVER_NAME);
    assert_eq!(plan["backend"]["kind"], "synapse-cli");
    assert_eq!(plan["backend"]["config"], "/data/homeserver.yaml");
    assert_eq!(plan["transport"]["container"], "matrix-synapse");
    assert_eq!(plan["ssh"]["host"], FLEET[0]);

    let out = provision(&["-i", inv, "ping"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The container's Synapse, through the shared-secret API over the host's SSH
    // (tests/integration/tunnel.rs), not one register_new_matrix_user per user.
    assert!(
        text(&out).contains("registers via the shared-secret API at ")
            && text(&out).contains(", in the container matrix-synapse,"),
        "{}",
        text(&out)
    );

    let user = unique("playbook");
    let out = provision(
        &[
            "register",
            &user,
            "--admin",
            "--password-stdin",
            "-i",
            inv,
            "--output",
            "json",
        ],
        "pb-password",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(s.login(&user, "pb-password").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));
}

/// The playbook's `{postgres_base_path}/bin/cli-non-interactive`, on the "host" (this machine,
/// reached over SSH). The playbook's runs `docker run -i … psql -h HOST "$@"`, psql in a
/// container of its own with the credentials from an env file
/// (mother-of-all-self-hosting/ansible-role-postgres, templates/bin/cli-non-interactive.j2);
/// this one runs psql against the suite's PostgreSQL as its superuser, passing on the
/// arguments and stdin the same way. It is not in the `matrix-synapse` container, where it is
/// not on a playbook host either. Returns the base path to give as `postgres_base_path`.
fn playbook_postgres_scripts() -> std::path::PathBuf {
    let base = scratch().join(unique("playbook-postgres"));
    std::fs::create_dir_all(base.join("bin")).unwrap();
    // fs::copy keeps the mode: executable.
    std::fs::copy(
        postgres().cli_non_interactive(),
        base.join("bin/cli-non-interactive"),
    )
    .unwrap();
    base
}

#[test]
fn the_playbooks_own_postgres_sets_the_admin_flag_from_the_host() {
    let s = docker_synapse();
    let pg = postgres();
    // The playbook's default layout: its PostgreSQL, Synapse's database in it.
    let base = playbook_postgres_scripts();
    let hosts = playbook_inventory(&format!(
        "devture_postgres_enabled: true\npostgres_base_path: {}\nmatrix_synapse_database_database: {DOCKER_DATABASE}\n",
        base.display()
    ));
    let inv = hosts.to_str().unwrap();
    let db_flag = |user: &str| {
        pg.query_in(
            DOCKER_DATABASE,
            &format!("SELECT admin FROM users WHERE name = '@{user}:{SERVER_NAME}'"),
        )
    };

    let out = provision(&["-i", inv, "ping"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("cli-non-interactive on ssh"),
        "{}",
        text(&out)
    );

    let user = unique("pbadmin");
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv,
            "--output",
            "json",
        ],
        "pb-password",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert_eq!(db_flag(&user), "0");

    let admin = |flag: &str| {
        let out = provision(&["admin", &user, flag, "-i", inv, "--output", "json"], "");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let host = &json(&out)["hosts"][0];
        (host["status"].clone(), host["outcome"].clone())
    };
    assert_eq!(admin("--on"), ("changed".into(), "admin_set".into()));
    assert_eq!(db_flag(&user), "1");
    // Synapse's first look-up of the user: it reads the new flag (later ones may be cached).
    assert_eq!(s.admin_flag(&user), Some(true));
    assert_eq!(admin("--off"), ("changed".into(), "admin_set".into()));
    assert_eq!(db_flag(&user), "0");
    assert_eq!(admin("--off"), ("ok".into(), "admin_unchanged".into()));

    // Registering again with --admin finds the user and converges the flag.
    let register_admin = || {
        let out = provision(
            &[
                "register",
                &user,
                "--admin",
                "--password-stdin",
                "-i",
                inv,
                "--output",
                "json",
            ],
            "pb-password",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let host = json(&out)["hosts"][0].clone();
        (host["outcome"].clone(), host["admin"].clone())
    };
    assert_eq!(register_admin(), ("exists".into(), "admin_set".into()));
    assert_eq!(db_flag(&user), "1");
    assert_eq!(
        register_admin(),
        ("exists".into(), "admin_unchanged".into())
    );
    assert!(s.login(&user, "pb-password").is_ok());
}

#[test]
fn the_playbook_postgres_becomes_the_admin_backend() {
    let hosts = playbook_inventory("");
    let out = provision(
        &[
            "-i",
            hosts.to_str().unwrap(),
            "inventory",
            "--output",
            "json",
        ],
        "",
    );
    let admin = &json(&out)["hosts"][0]["admin"];
    assert_eq!(admin["kind"], "sql");
    assert_eq!(
        admin["psql"]["command"],
        "/matrix/postgres/bin/cli-non-interactive"
    );
    assert_eq!(admin["psql"]["database"], "synapse");
}

#[test]
fn unresolvable_values_name_the_file_and_key() {
    let hosts = playbook_inventory(
        "matrix_synapse_container_client_api_port: \"{{ matrix_synapse_port }}\"\n",
    );
    let out = provision(&["-i", hosts.to_str().unwrap(), "inventory"], "");
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    assert!(
        shown.contains("`matrix_synapse_container_client_api_port` is a Jinja template"),
        "{shown}"
    );
    assert!(
        shown.contains("host_vars/matrix.test/vars.yml:5:1"),
        "{shown}"
    );
}

#[test]
fn a_playbook_inventory_folder_takes_its_settings_from_group_vars() {
    // The playbook's layout with the settings every host shares in group_vars/: read from
    // the folder, as `ansible-playbook -i inventory/` reads it. Nothing is contacted.
    let dir = scratch()
        .join(unique("playbook-group-vars"))
        .join("inventory");
    std::fs::create_dir_all(dir.join("group_vars")).unwrap();
    std::fs::write(
        dir.join("hosts"),
        "[matrix_servers]\nmatrix.example.org:2222 ansible_host=192.0.2.7 ansible_ssh_user=root\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("group_vars/matrix_servers.yml"),
        "---\nmatrix_domain: example.org\nmatrix_homeserver_implementation: dendrite\n",
    )
    .unwrap();
    let out = provision(
        &["-i", dir.to_str().unwrap(), "inventory", "--output", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = &json(&out)["hosts"][0];
    assert_eq!(plan["host"], "matrix.example.org");
    assert_eq!(plan["server_name"], "example.org");
    assert_eq!(plan["homeserver"], "dendrite");
    assert_eq!(plan["backend"]["kind"], "dendrite-cli");
    assert_eq!(plan["transport"]["container"], "matrix-dendrite");
    assert_eq!(plan["ssh"]["host"], "192.0.2.7");
    assert_eq!(plan["ssh"]["port"], 2222);
    assert_eq!(plan["admin"]["psql"]["database"], "dendrite_userapi");

    // A value the file gives wrong is shown at its line in group_vars/.
    std::fs::write(
        dir.join("group_vars/matrix_servers.yml"),
        "---\nmatrix_domain: example.org\nmatrix_homeserver_implementation: conduit\n",
    )
    .unwrap();
    let out = provision(&["-i", dir.to_str().unwrap(), "inventory"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("group_vars/matrix_servers.yml:3:1"),
        "{}",
        text(&out)
    );
}
