use std::path::Path;

use super::*;
use provision_backends::Op;

fn parse(src: &str) -> Result<Inventory, Error> {
    Inventory::parse(Path::new("/etc/provision/inventory.yaml"), src)
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

const FLEET: &str = "\
all:
  vars:
    backend: shared-secret
    shared_secret: {env: MATRIX_SECRET}
  hosts:
    solo:
      server_name: solo.org
      url: https://solo.org
  children:
    prod:
      vars:
        server_name: example.com
      hosts:
        matrix1:
          url: https://m1.example.com
        matrix2:
          url: https://m2.example.com
          shared_secret: {file: secrets/m2}
    staging:
      hosts:
        stage1:
          server_name: stage.example.com
          url: http://127.0.0.1:8008
";

#[test]
fn merges_vars_host_over_child_over_all() {
    let inv = parse(FLEET).unwrap();
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["solo", "matrix1", "matrix2", "stage1"]);
    let m2 = &inv.hosts[2];
    assert_eq!(m2.server_name, "example.com");
    let backend = &m2.plan()["backend"];
    assert_eq!(
        backend["kind"], "shared-secret",
        "matrix2 uses shared-secret"
    );
    assert_eq!(backend["url"], "https://m2.example.com/");
    // Relative secret files are relative to the inventory's folder.
    assert_eq!(backend["shared_secret"], "file /etc/provision/secrets/m2");
    let backend = &inv.hosts[1].plan()["backend"];
    assert_eq!(
        backend["kind"], "shared-secret",
        "matrix1 uses shared-secret"
    );
    assert_eq!(
        backend["shared_secret"],
        "environment variable MATRIX_SECRET"
    );
}

#[test]
fn limit_takes_hosts_groups_globs_exclusions_and_intersections() {
    let inv = parse(FLEET).unwrap();
    let names = |limit: &str| -> Vec<String> {
        inv.select(Some(limit))
            .unwrap()
            .iter()
            .map(|h| h.name.clone())
            .collect()
    };
    assert_eq!(names("prod"), ["matrix1", "matrix2"]);
    assert_eq!(names("matrix*,solo"), ["solo", "matrix1", "matrix2"]);
    assert_eq!(names("all,!prod"), ["solo", "stage1"]);
    assert_eq!(names("all:&prod:!matrix1"), ["matrix2"]);
    assert!(inv.select(Some("nothing*")).is_err());
    assert_eq!(inv.select(None).unwrap().len(), 4);
}

#[test]
fn unknown_key_points_at_the_key_with_a_suggestion() {
    let e = err("all:\n  hosts:\n    m1:\n      server_name: a.org\n      urll: http://x\n");
    assert!(
        e.contains("unknown key `urll` (did you mean `url`?)"),
        "{e}"
    );
    assert!(e.contains("--> /etc/provision/inventory.yaml:5:7"), "{e}");
    assert!(e.contains("5 |       urll: http://x"), "{e}");
}

#[test]
fn unknown_group_field_is_located() {
    let e = err("all:\n  hots:\n    m1: {}\n");
    assert!(e.contains("hots") && e.contains("inventory.yaml:2:"), "{e}");
}

#[test]
fn missing_key_names_the_host_and_where_it_is_defined() {
    let e = err(
        "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n",
    );
    assert!(e.contains("host `m1`: missing key `shared_secret`"), "{e}");
    assert!(e.contains("inventory.yaml:3:5"), "{e}");
}

#[test]
fn wrong_types_and_values_are_located() {
    let base = "all:\n  vars:\n    backend: shared-secret\n    shared_secret: {env: S}\n  hosts:\n    m1:\n";
    let e = err(&format!(
        "{base}      server_name: 42\n      url: http://x\n"
    ));
    assert!(
        e.contains("`server_name`: expected a string, found a number") && e.contains(":7:"),
        "{e}"
    );
    let e = err(&format!(
        "{base}      server_name: a.org\n      url: ftp://x\n"
    ));
    assert!(
        e.contains("http:// or https://") && e.contains(":8:"),
        "{e}"
    );
    let e = err(&format!(
        "{base}      server_name: a.org\n      url: http://x\n      shared_secret: hunter2\n"
    ));
    assert!(e.contains("expected {file: PATH} or {env: NAME}"), "{e}");
    assert!(
        !e.contains("hunter2 "),
        "the caret line may show it, the message must not: {e}"
    );
    let e = err(&format!(
        "{base}      server_name: a.org\n      url: http://x\n      backend: shared-secrte\n"
    ));
    assert!(e.contains("did you mean `shared-secret`"), "{e}");
    let e = err(&format!(
        "{base}      server_name: 'bad name'\n      url: http://x\n"
    ));
    assert!(e.contains("invalid server name"), "{e}");
}

#[test]
fn mas_hosts_are_refused_by_the_shared_secret_backend() {
    let e = err(
        "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n      shared_secret: {env: S}\n      mas: {url: http://mas, client_id: 01J, client_secret: {env: C}}\n",
    );
    assert!(e.contains("managed by MAS"), "{e}");
}

#[test]
fn mas_hosts_change_passwords_locks_and_deactivations_only_through_mas() {
    let host = "all:\n  hosts:\n    m1:\n      server_name: a.org\n      mas: {url: http://mas, client_id: 01J, client_secret: {env: C}}\n";
    let e = err(&format!(
        "{host}      backend: mas-cli\n      transport: local\n      admin_backend: synapse-api\n      url: http://syn\n      admin_token: {{env: T}}\n"
    ));
    assert!(
        e.contains("managed by MAS")
            && e.contains("use admin_backend: mas-api")
            && e.contains(":8:"),
        "{e}"
    );
    let inventory = parse(&format!("{host}      backend: mas-api\n")).unwrap();
    assert_eq!(inventory.hosts[0].backends.len(), 1);
}

#[test]
fn broken_yaml_is_located() {
    let e = err("all:\n  hosts:\n    m1: {server_name: a.org\n");
    assert!(
        e.starts_with("error: ") && e.contains("inventory.yaml:"),
        "{e}"
    );
    let e = err("");
    assert!(e.starts_with("error: "), "{e}");
    let e = err("all:\n  hosts: {}\n");
    assert!(e.contains("defines no hosts"), "{e}");
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        src.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    let start = std::time::Instant::now();
    let _ = err(&src);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

const EXEC_FLEET: &str = "\
all:
  vars:
    server_name: example.com
    backend: synapse-cli
    config: /data/homeserver.yaml
  hosts:
    local1:
      transport: local
    box1:
      transport: ssh
      ssh: {user: admin, port: 2222, identity_file: keys/id, known_hosts: ~/.ssh/known_hosts, become: true}
    playbook1:
      transport: ssh
      backend: playbook-wrapper
      docker: {container: matrix-synapse}
    engine1:
      transport: docker
      backend: dendrite-cli
      url: http://localhost:8008
      docker: {container: matrix-dendrite}
";

#[test]
fn exec_backends_get_typed_transports() {
    let inv = parse(EXEC_FLEET).unwrap();
    assert!(matches!(inv.hosts[0].transport, Some(Transport::Local)));
    assert!(matches!(
        inv.hosts[1].transport,
        Some(Transport::Ssh { container: None })
    ));
    let ssh = inv.hosts[1].ssh.as_ref().expect("box1 has ssh settings");
    // As in Ansible, the inventory name is the address by default.
    assert_eq!(ssh.host, "box1");
    assert_eq!((ssh.user.as_deref(), ssh.port), (Some("admin"), Some(2222)));
    assert_eq!(
        ssh.identity_file.as_deref(),
        Some(Path::new("/etc/provision/keys/id"))
    );
    assert_eq!(
        ssh.known_hosts.as_deref(),
        Some(Path::new("~/.ssh/known_hosts"))
    );
    assert!(!ssh.accept_new_host_key);
    assert_eq!(ssh.sudo.as_ref().map(|b| b.user.as_str()), Some("root"));
    assert!(
        matches!(&inv.hosts[2].transport, Some(Transport::Ssh { container: Some(c), .. }) if c == "matrix-synapse")
    );
    assert!(
        matches!(&inv.hosts[3].transport, Some(Transport::Docker { container }) if container == "matrix-dendrite")
    );
    let backend = &inv.hosts[3].plan()["backend"];
    assert_eq!(backend["kind"], "dendrite-cli");
    assert_eq!(backend["url"], "http://localhost:8008");
}

#[test]
fn pairings_are_checked_before_anything_runs() {
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: synapse-cli\n      config: /c\n",
    );
    assert!(e.contains("missing key `transport`"), "{e}");
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: synapse-cli\n      transport: local\n",
    );
    assert!(e.contains("missing key `config`"), "{e}");
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n      shared_secret: {env: S}\n      transport: ssh\n",
    );
    assert!(e.contains("talks HTTP") && e.contains(":8:"), "{e}");
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: mas-cli\n      transport: docker\n",
    );
    assert!(e.contains("missing key `docker`"), "{e}");
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: mas-cli\n      transport: sssh\n",
    );
    assert!(e.contains("did you mean `ssh`"), "{e}");
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: mas-cli\n      transport: ssh\n      ssh: {prot: 22}\n",
    );
    assert!(
        e.contains("unknown field `prot`") && e.contains(":7:"),
        "{e}"
    );
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: synapse-cli\n      config: /c\n      transport: local\n      mas: {url: http://mas, client_id: x, client_secret: {env: C}}\n",
    );
    assert!(e.contains("managed by MAS") && e.contains("mas-cli"), "{e}");
}

/// Every input kept in fuzz/regressions/inventory (crashes the fuzzer found, and hand-made
/// edge cases) is read to hosts or to a located error, never a panic.
#[test]
fn fuzz_regressions_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/inventory");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let result =
            std::panic::catch_unwind(|| Inventory::parse(&path, text).map(|i| i.hosts.len()));
        assert!(result.is_ok(), "{} panicked", path.display());
        if let Ok(Err(e)) = result {
            assert!(
                e.to_string().starts_with("error: "),
                "{}: {e}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "the regression corpus is there");
}

#[test]
fn credentials_in_urls_are_refused_without_being_shown() {
    for (key, line) in [
        ("url", "url: https://admin:hunter2@m1.example.com"),
        ("url", "url: https://hunter2@m1.example.com/"),
    ] {
        let src = format!(
            "all:\n  hosts:\n    m1:\n      backend: shared-secret\n      server_name: example.com\n      shared_secret: {{env: S}}\n      {line}\n"
        );
        let e = err(&src);
        assert!(
            e.contains(&format!("`{key}`")) && e.contains("secret source"),
            "{e}"
        );
        assert!(e.contains("inventory.yaml:7:"), "{e}");
        assert!(!e.contains("hunter2"), "the credential is not shown: {e}");
    }
    let e = err(
        "all:\n  hosts:\n    m1:\n      backend: synapse-cli\n      server_name: example.com\n      transport: local\n      config: /c.yaml\n      url: http://u:hunter2@localhost:8008\n",
    );
    assert!(!e.contains("hunter2") && e.contains("`url`"), "{e}");
}

#[test]
fn container_names_outside_dockers_grammar_are_located() {
    for transport in ["docker", "ssh"] {
        for bad in ["../x", "a?b", "-x"] {
            let src = format!(
                "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: synapse-cli\n      config: /data/homeserver.yaml\n      transport: {transport}\n      ssh: {{host: m1.a.org}}\n      docker: {{container: '{bad}'}}\n"
            );
            let e = err(&src);
            assert!(
                e.contains("invalid container name") && e.contains("inventory.yaml:9:"),
                "{transport} {bad}: {e}"
            );
        }
    }
}

/// fuzz/regressions/playbook_ini/*, read as the playbook's INI whatever their first line, as
/// in fuzz/fuzz_targets/playbook_ini.rs.
#[test]
fn playbook_ini_fuzz_regressions_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/playbook_ini");
    let hosts = Path::new("fuzz/no-such-playbook/inventory/hosts");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let result =
            std::panic::catch_unwind(|| Inventory::parse_ini(hosts, text).map(|i| i.hosts.len()));
        assert!(result.is_ok(), "{} panicked", path.display());
        if let Ok(Err(e)) = result {
            assert!(
                e.to_string().starts_with("error: "),
                "{}: {e}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "the regression corpus is there");
}

#[test]
fn playbook_host_names_that_would_leave_host_vars_are_refused() {
    for bad in ["../../etc/passwd", "a/b", ".hidden"] {
        let e = Inventory::parse_ini(
            Path::new("/inv/hosts"),
            &format!("[matrix_servers]\n{bad} ansible_host=1.2.3.4\n"),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("may not be empty, contain '/' or start with '.'") && e.contains("hosts:2"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn ssh_hosts_and_users_like_options_are_located() {
    for ssh in [
        "{host: -oProxyCommand=touch /tmp/x}",
        "{host: m1.a.org, user: -x}",
        "{host: m1.a.org, become: true, become_user: -u}",
    ] {
        let src = format!(
            "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: synapse-cli\n      config: /c\n      transport: ssh\n      ssh: {ssh}\n"
        );
        let e = err(&src);
        assert!(
            e.contains("may not be empty or start with '-'") && e.contains("inventory.yaml:8:"),
            "{ssh}: {e}"
        );
    }
}

#[test]
fn a_top_level_group_without_all_is_a_child_of_all() {
    let e = err("prod:\n  hosts:\n    h:\n");
    assert!(e.contains("missing key"), "a host error, not a panic: {e}");
    let inv = parse(
        "prod:\n  vars:\n    backend: shared-secret\n    shared_secret: {env: S}\n  hosts:\n    h:\n      server_name: a.org\n      url: http://x\n",
    )
    .unwrap();
    assert_eq!(inv.hosts.len(), 1);
}

const SSH_HOST: &str = "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: synapse-cli\n      config: /c\n      transport: ssh\n";

#[test]
fn ssh_options_are_given_to_ssh_or_refused_at_their_line() {
    let inv = parse(&format!(
        "{SSH_HOST}      ssh: {{host: m1.a.org, options: {{ProxyJump: bastion, connecttimeout: 5}}}}\n"
    ))
    .unwrap();
    let ssh = inv.hosts[0].ssh.as_ref().unwrap();
    assert_eq!(
        ssh.options,
        [
            ("ProxyJump".to_owned(), "bastion".to_owned()),
            ("ConnectTimeout".to_owned(), "5".to_owned())
        ]
    );
    for (options, says) in [
        ("{ControlPath: x}", "ssh option `ControlPath` is refused"),
        (
            "{ForwardX11: 'yes'}",
            "does not apply the ssh option `ForwardX11`",
        ),
        ("{UserKnownHostsFile: /k}", "give `known_hosts` instead"),
        ("{ProxyJump: [a, b]}", "expected a string, found a list"),
    ] {
        let e = err(&format!(
            "{SSH_HOST}      ssh:\n        host: m1.a.org\n        options: {options}\n"
        ));
        assert!(
            e.contains(says) && e.contains("inventory.yaml:9:"),
            "{options}: {e}"
        );
    }
}

#[test]
fn transport_http_means_none_and_only_for_a_backend_that_talks_http() {
    let shared = "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n      shared_secret: {env: S}\n";
    assert!(parse(shared).unwrap().hosts[0].transport.is_none());
    let inv = parse(&format!("{shared}      transport: http\n")).unwrap();
    assert!(inv.hosts[0].transport.is_none());
    let e = err(
        "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: synapse-cli\n      config: /c\n      transport: http\n",
    );
    assert!(
        e.contains("this backend runs a program: use local, ssh or docker") && e.contains(":7:"),
        "{e}"
    );
}

/// `url_on_host` goes over the host's SSH: it gives an HTTP backend's host its transport, and
/// without one it is refused at its line, as is a TLS or pathful address.
#[test]
fn url_on_host_needs_ssh_and_a_plain_address() {
    let host = "all:\n  hosts:\n    h:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n      shared_secret: {env: S}\n      admin_backend: synapse-api\n      admin_token: {env: T}\n";
    let inv = parse(&format!(
        "{host}      transport: ssh\n      url_on_host: http://127.0.0.1:8008\n"
    ))
    .unwrap();
    assert!(matches!(
        inv.hosts[0].transport,
        Some(Transport::Ssh { .. })
    ));
    let e = err(&format!("{host}      url_on_host: http://127.0.0.1:8008\n"));
    assert!(
        e.contains("`url_on_host`") && e.contains("transport: ssh") && e.contains(":10:"),
        "{e}"
    );
    let e = err(&format!(
        "{host}      transport: ssh\n      url_on_host: https://127.0.0.1:8008\n"
    ));
    assert!(
        e.contains("plain http:// only") && e.contains(":11:"),
        "{e}"
    );
}

#[test]
fn a_bad_port_is_named() {
    let e = err(&format!("{SSH_HOST}      ssh: {{port: 70000}}\n"));
    assert!(
        e.contains("`ssh.port`: 70000 is not a port") && e.contains(":8:"),
        "{e}"
    );
}

#[test]
fn admin_backend_takes_a_list_tried_in_order() {
    let src = "\
all:
  hosts:
    d1:
      server_name: d.org
      backend: shared-secret
      url: https://d.org
      shared_secret: {env: S}
      admin_backend: [sql, dendrite-api]
      database_url: {env: DB}
      admin_token: {env: T}
";
    let inv = parse(src).unwrap();
    let host = &inv.hosts[0];
    // dendrite-api implies Dendrite, so the SQL backend speaks Dendrite's schema.
    assert_eq!(
        host.homeserver,
        provision_backends::settings::Homeserver::Dendrite
    );
    let plan = host.plan();
    assert_eq!(plan["homeserver"], "dendrite");
    assert_eq!(plan["backends"][1]["schema"], "dendrite");
    assert_eq!(plan["backends"][2]["kind"], "dendrite-api");
    assert_eq!(host.first(Op::Read).unwrap().kind.name, "sql");
    assert_eq!(host.first(Op::SetAdmin).unwrap().kind.name, "sql");
    assert_eq!(
        host.first(Op::SetPassword).unwrap().kind.name,
        "dendrite-api"
    );
    assert!(host.first(Op::Deactivate).is_none());

    let e = err(&src.replace("[sql, dendrite-api]", "[sql, sql]"));
    assert!(
        e.contains("sql is listed twice") && e.contains(":8:"),
        "{e}"
    );
    let e = err(&src.replace("[sql, dendrite-api]", "[sql, shared-secret]"));
    assert!(e.contains("shared-secret only registers users"), "{e}");
    let e = err(&src.replace("[sql, dendrite-api]", "[sql, dendrite-apu]"));
    assert!(e.contains("did you mean `dendrite-api`"), "{e}");
    let e = err(&src.replace("[sql, dendrite-api]", "{sql: 1}"));
    assert!(
        e.contains("expected a backend name or a list of them"),
        "{e}"
    );
}

#[test]
fn the_homeserver_marker_routes_tuwunel_through_synapse_compatible_backends() {
    let src = "\
all:
  hosts:
    t1:
      server_name: t.org
      homeserver: tuwunel
      backend: shared-secret
      url: https://t.org
      shared_secret: {env: S}
      admin_backend: synapse-api
      admin_token: {env: T}
";
    let inv = parse(src).unwrap();
    assert_eq!(inv.hosts[0].plan()["homeserver"], "tuwunel");
    // No SQL (RocksDB), no register_new_matrix_user, and no Dendrite backend there.
    let e = err(&src.replace(
        "admin_backend: synapse-api",
        "admin_backend: sql\n      database_url: {env: DB}",
    ));
    assert!(
        e.contains("tuwunel keeps its accounts in RocksDB") && e.contains(":9:"),
        "{e}"
    );
    let e = err(&src.replace(
        "backend: shared-secret",
        "backend: synapse-cli\n      transport: local",
    ));
    assert!(
        e.contains("synapse-cli is for synapse hosts, and this one runs tuwunel per `homeserver`"),
        "{e}"
    );
    let e = err(&src.replace("homeserver: tuwunel", "homeserver: construct"));
    assert!(
        e.contains("unknown homeserver `construct`") && e.contains("tuwunel"),
        "{e}"
    );
    // continuwuity's forebears are named, and refused with the reason.
    let e = err(&src.replace("homeserver: tuwunel", "homeserver: conduwuit"));
    assert!(
        e.contains("conduwuit is not supported") && e.contains("homeserver: continuwuity"),
        "{e}"
    );
    // Backends that imply different homeservers cannot share a host.
    let e = err(&src
        .replace("      homeserver: tuwunel\n", "")
        .replace(
            "backend: shared-secret",
            "backend: synapse-cli\n      transport: local",
        )
        .replace("admin_backend: synapse-api", "admin_backend: dendrite-api"));
    assert!(
        e.contains("dendrite-api is for dendrite hosts, and this one runs synapse per synapse-cli"),
        "{e}"
    );
}

#[test]
fn an_admin_token_login_is_read_and_its_mistakes_are_located() {
    let host = "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: shared-secret\n      url: http://x\n      shared_secret: {env: S}\n      admin_backend: synapse-api\n";
    let inv = parse(&format!(
        "{host}      admin_token: {{login: {{user: admin, password: {{env: ADMIN_PW}}}}}}\n"
    ))
    .unwrap();
    let shown = inv.hosts[0].backends[1].config.show();
    assert_eq!(
        shown["admin_token"],
        "a login as admin (password from environment variable ADMIN_PW)"
    );
    let e = err(&format!(
        "{host}      admin_token: {{login: {{user: admin}}}}\n"
    ));
    assert!(
        e.contains("login.password is missing") && e.contains(":9:"),
        "{e}"
    );
    let e = err(&format!(
        "{host}      admin_token: {{login: {{user: admin, password: hunter2}}}}\n"
    ));
    assert!(
        e.contains("admin_token.login.password")
            && e.contains("expected {file: PATH} or {env: NAME}"),
        "{e}"
    );
    let e = err(&format!(
        "{host}      admin_token: {{login: {{user: admin, pasword: {{env: P}}}}}}\n"
    ));
    assert!(e.contains("unknown key `login.pasword`"), "{e}");
}

#[test]
fn admin_room_implies_continuwuity_and_bounds_its_reply_timeout() {
    let src = "\
all:
  hosts:
    c1:
      server_name: c.org
      backend: admin-room
      url: https://c.org
      admin_token: {env: T}
      reply_timeout: 10
";
    let inv = parse(src).unwrap();
    assert_eq!(inv.hosts[0].plan()["homeserver"], "continuwuity");
    for bad in ["0", "3601", "soon"] {
        let e = err(&src.replace("reply_timeout: 10", &format!("reply_timeout: {bad}")));
        assert!(e.contains("`reply_timeout`") && e.contains(":8:"), "{e}");
    }
    // RocksDB, not SQL; and a Synapse-only backend is refused on such a host.
    let e = err(&src.replace(
        "reply_timeout: 10",
        "admin_backend: sql\n      database_url: {env: DB}",
    ));
    assert!(
        e.contains("continuwuity keeps its accounts in RocksDB"),
        "{e}"
    );
    let e = err(&src.replace(
        "backend: admin-room",
        "backend: admin-room\n      homeserver: synapse",
    ));
    assert!(
        e.contains("admin-room is for continuwuity hosts, and this one runs synapse"),
        "{e}"
    );
}
