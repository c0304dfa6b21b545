//! Inventories laid out as Ansible reads them: group_vars/ and host_vars/ beside the inventory,
//! the order variables apply in, host patterns, folders and repeated `-i`.

use std::path::{Path, PathBuf};

use super::*;

/// A folder of files (`path`, text), created with their folders.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load(paths: &[PathBuf]) -> Result<Inventory, Error> {
    Inventory::load(paths)
}

fn load_err(paths: &[PathBuf]) -> String {
    match load(paths) {
        Ok(_) => panic!("expected an error for {paths:?}"),
        Err(e) => e.to_string(),
    }
}

/// The playbook's hosts file: m1 in `matrix_servers`, a child of `parent`.
const PLAYBOOK_HOSTS: &str = "\
[parent:children]
matrix_servers

[matrix_servers]
m1 ansible_host=1.2.3.4{inline}

[all:vars]
{all}
[parent:vars]
{parent}
[matrix_servers:vars]
{child}
";

/// `matrix_domain` set at each of `levels` (1 lowest to 8 highest), to `lN.org`, in the
/// place the level names.
fn precedence_fixture(levels: &[u8]) -> tempfile::TempDir {
    let at = |level: u8| {
        if levels.contains(&level) {
            format!("matrix_domain=l{level}.org")
        } else {
            String::new()
        }
    };
    let yml = |level: u8| {
        if levels.contains(&level) {
            format!("matrix_domain: l{level}.org\n")
        } else {
            "# nothing here\n".to_owned()
        }
    };
    let hosts = PLAYBOOK_HOSTS
        .replace("{all}", &at(1))
        .replace("{parent}", &at(2))
        .replace("{child}", &at(3))
        .replace("{inline}", &format!(" {}", at(7)));
    folder(&[
        ("hosts", &hosts),
        ("group_vars/all.yml", &yml(4)),
        ("group_vars/parent.yml", &yml(5)),
        ("group_vars/matrix_servers.yml", &yml(6)),
        ("host_vars/m1.yml", &yml(8)),
    ])
}

#[test]
fn variables_apply_in_ansibles_order_each_level_over_the_ones_below() {
    // Lowest first: the inventory file's group vars (all, the parent group, the child
    // group), group_vars/all, group_vars/ of the parent then the child, the host's line,
    // host_vars/ (docs.ansible.com, "Understanding variable precedence").
    for top in (1..=8).rev() {
        let levels: Vec<u8> = (1..=top).collect();
        let dir = precedence_fixture(&levels);
        let inv = load(&[dir.path().into()]).unwrap();
        assert_eq!(
            inv.hosts[0].server_name,
            format!("l{top}.org"),
            "{levels:?}"
        );
    }
    // Every group_vars/ file is over every group variable of the inventory file, the
    // child group's included, as in Ansible.
    let dir = precedence_fixture(&[3, 4]);
    assert_eq!(
        load(&[dir.path().into()]).unwrap().hosts[0].server_name,
        "l4.org"
    );
    // A child group is over its parent in group_vars/ too.
    let dir = precedence_fixture(&[6, 5]);
    assert_eq!(
        load(&[dir.path().join("hosts")]).unwrap().hosts[0].server_name,
        "l6.org"
    );
}

#[test]
fn groups_of_one_depth_apply_by_name_unless_a_priority_says_otherwise() {
    let hosts = "\
[b_side]
m1
[a_side]
m1
[b_side:vars]
matrix_domain=b.org
[a_side:vars]
matrix_domain=a.org
";
    let dir = folder(&[("hosts", hosts)]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].server_name, "b.org");
    let dir = folder(&[("hosts", &format!("{hosts}ansible_group_priority=10\n"))]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].server_name, "a.org");
}

#[test]
fn a_folder_of_group_vars_is_read_in_lexical_order_and_shadows_the_file() {
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        (
            "group_vars/matrix_servers/10-main.yml",
            "matrix_domain: main.org\n",
        ),
        (
            "group_vars/matrix_servers/20-override.yaml",
            "matrix_domain: override.org\n",
        ),
        (
            "group_vars/matrix_servers/sub/30-last",
            "matrix_domain: last.org\n",
        ),
        (
            "group_vars/matrix_servers/notes.txt",
            "matrix_domain: never.org\n",
        ),
        (
            "group_vars/matrix_servers/old.yml~",
            "matrix_domain: never.org\n",
        ),
        (
            "group_vars/matrix_servers.yml",
            "matrix_domain: shadowed.org\n",
        ),
    ]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].server_name, "last.org");
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("group_vars/matrix_servers.yml: not read")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn group_and_host_vars_for_names_the_inventory_lacks_are_warnings_that_name_the_file() {
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        (
            "group_vars/matrix_servers.yml",
            "matrix_domain: example.org\n",
        ),
        ("group_vars/matrix_server.yml", "matrix_domain: typo.org\n"),
        ("host_vars/m2/vars.yml", "ansible_host: 1.2.3.4\n"),
    ]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].server_name, "example.org");
    let warned = |needle: &str| inv.warnings.iter().any(|w| w.contains(needle));
    assert!(
        warned(
            "group_vars/matrix_server.yml: the inventory has no group `matrix_server` (did you mean `matrix_servers`?)"
        ),
        "{:?}",
        inv.warnings
    );
    assert!(
        warned("host_vars/m2: the inventory has no host `m2`"),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn a_group_vars_value_keeps_its_file_and_line_and_is_refused_there() {
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        (
            "group_vars/matrix_servers.yml",
            "---\nmatrix_domain: example.org\nmatrix_homeserver_implementation: \"{{ impl }}\"\n",
        ),
    ]);
    let e = load_err(&[dir.path().join("hosts")]);
    assert!(
        e.contains("`matrix_homeserver_implementation` is a Jinja template")
            && e.contains("group_vars/matrix_servers.yml:3:1"),
        "{e}"
    );
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        (
            "group_vars/all.yml",
            "matrix_domain: example.org\nansible_become_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
        ),
    ]);
    let e = load_err(&[dir.path().join("hosts")]);
    assert!(
        e.contains("`ansible_become_password` is vaulted") && e.contains("group_vars/all.yml:2:1"),
        "{e}"
    );
    // A whole file encrypted with ansible-vault is named and left unread.
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        ("group_vars/all/vars.yml", "matrix_domain: example.org\n"),
        (
            "group_vars/all/vault.yml",
            "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        ),
    ]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("vault.yml: encrypted with ansible-vault")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn a_provision_inventorys_group_vars_hold_provision_keys_checked_at_their_line() {
    let inventory = "\
all:
  children:
    prod:
      hosts:
        m1:
          url: https://m1.example.com
        m2:
          url: https://m2.example.com
";
    let dir = folder(&[
        ("inventory.yaml", inventory),
        (
            "group_vars/all.yml",
            "backend: shared-secret\nshared_secret: {env: S}\nserver_name: all.org\n",
        ),
        ("group_vars/prod.yml", "server_name: prod.org\n"),
        ("host_vars/m2.yml", "server_name: m2.org\n"),
    ]);
    let inv = load(&[dir.path().join("inventory.yaml")]).unwrap();
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.server_name.as_str()).collect();
    assert_eq!(names, ["prod.org", "m2.org"]);

    std::fs::write(
        dir.path().join("host_vars/m2.yml"),
        "server_name: m2.org\nurll: x\n",
    )
    .unwrap();
    let e = load_err(&[dir.path().join("inventory.yaml")]);
    assert!(
        e.contains("unknown key `urll` (did you mean `url`?)")
            && e.contains("host_vars/m2.yml:2:1"),
        "{e}"
    );
}

#[test]
fn ini_ranges_expand_to_hosts_as_ansible_expands_them() {
    let dir = folder(&[(
        "hosts",
        "[matrix_servers]\nm[01:03].example.org\ndb-[a:b].example.org\nn[1:5:2]\n[matrix_servers:vars]\nmatrix_domain=example.org\n",
    )]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "m01.example.org",
            "m02.example.org",
            "m03.example.org",
            "db-a.example.org",
            "db-b.example.org",
            "n1",
            "n3",
            "n5"
        ]
    );
    // Each one reached at its own name.
    assert_eq!(inv.hosts[1].ssh.as_ref().unwrap().host, "m02.example.org");
    let dir = folder(&[("hosts", "[matrix_servers]\nok\nm[01:100]\n")]);
    let e = load_err(&[dir.path().join("hosts")]);
    assert!(
        e.contains("equal-length begin and end") && e.contains("hosts:3:1"),
        "{e}"
    );
}

#[test]
fn a_port_after_the_host_name_is_its_ansible_port() {
    let dir = folder(&[(
        "hosts",
        "[matrix_servers]\nm1.example.org:2222\nm2.example.org:2222 ansible_port=2200\n[b]\nm1.example.org:9999\n[all:vars]\nmatrix_domain=example.org\n",
    )]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    let port = |i: usize| inv.hosts[i].ssh.as_ref().unwrap().port;
    // The port of the host's first line, as Ansible keeps it; a variable on the line is over it.
    assert_eq!((port(0), port(1)), (Some(2222), Some(2200)));
    assert_eq!(inv.hosts[0].name, "m1.example.org");

    let dir = folder(&[(
        "inventory.yaml",
        "all:\n  hosts:\n    m1:22:\n      server_name: a.org\n",
    )]);
    let e = load_err(&[dir.path().join("inventory.yaml")]);
    assert!(
        e.contains("in a provision inventory write `ssh: {port: 22}`") && e.contains(":3:5"),
        "{e}"
    );
}

#[test]
fn a_byte_order_mark_does_not_make_an_ini_inventory_yaml() {
    let dir = folder(&[(
        "hosts",
        "\u{feff}[matrix_servers]\nm1 matrix_domain=example.org\n",
    )]);
    let inv = load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].server_name, "example.org");
    let inv = Inventory::parse(
        Path::new("/nowhere/hosts"),
        "\u{feff}[matrix_servers]\nm1 matrix_domain=example.org\n",
    )
    .unwrap();
    assert_eq!(inv.hosts[0].name, "m1");
}

#[test]
fn an_unclosed_quote_is_an_error_at_its_line() {
    let e = Inventory::parse(
        Path::new("/inv/hosts"),
        "[matrix_servers]\n# a comment\nm1 ansible_host=\"1.2.3.4 matrix_domain=example.org\n",
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("a quote is not closed") && e.contains("/inv/hosts:3:1"),
        "{e}"
    );
    let e = Inventory::parse(
        Path::new("/inv/hosts"),
        "[matrix_servers]\nm1\n[all:vars]\nmatrix_domain='example.org\n",
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("opens a quote (') that nothing closes") && e.contains("/inv/hosts:4:1"),
        "{e}"
    );
}

#[test]
fn ini_sections_are_checked_as_ansible_checks_them() {
    let err = |text: &str| {
        Inventory::parse(Path::new("/inv/hosts"), text)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = err("[matrix_servers]\nm1\n[parent:children]\nmissing\n");
    assert!(
        e.contains("Section [parent:children] includes undefined group 'missing'")
            && e.contains("hosts:4:1"),
        "{e}"
    );
    let e = err("[matrix_servers]\nm1\n[ghost:vars]\nx=1\n");
    assert!(
        e.contains("Section [ghost:vars] not valid for undefined group 'ghost'")
            && e.contains("hosts:3:1"),
        "{e}"
    );
    let e = err("[matrix_servers:hostz]\nm1\n");
    assert!(e.contains("has unknown type: hostz"), "{e}");
    let e = err("[a:children]\nb\n[b:children]\na\n[b]\nh matrix_domain=x.org\n");
    assert!(e.contains("contains itself"), "{e}");
    // Children may be declared after the section that names them.
    let inv = Inventory::parse(
        Path::new("/inv/hosts"),
        "[everything:children]\nmatrix_servers\n[everything:vars]\nmatrix_domain=late.org\n[matrix_servers]\nm1\n",
    )
    .unwrap();
    assert_eq!(inv.hosts[0].server_name, "late.org");
    assert_eq!(inv.select(Some("everything")).unwrap().len(), 1);
}

#[test]
fn a_folder_is_every_inventory_file_in_it_but_those_ansible_ignores() {
    let dir = folder(&[
        ("hosts", "[matrix_servers]\nm1\n"),
        ("more.ini", "[matrix_servers]\nm2\n"),
        ("sub/extra", "[matrix_servers]\nm3\n"),
        ("hosts~", "[matrix_servers]\nbackup\n"),
        ("hosts.bak", "[matrix_servers]\nbackup\n"),
        ("README.md", "# not an inventory\n"),
        (".hidden", "[matrix_servers]\nhidden\n"),
        ("ansible.cfg", "[defaults]\n"),
        ("dynamic.py", "#!/usr/bin/env python3\nprint('{}')\n"),
        (
            "group_vars/matrix_servers.yml",
            "matrix_domain: example.org\n",
        ),
        ("host_vars/m2.yml", "matrix_domain: m2.org\n"),
    ]);
    let inv = load(&[dir.path().into()]).unwrap();
    let names: Vec<(&str, &str)> = inv
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.server_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("m1", "example.org"),
            ("m2", "m2.org"),
            ("m3", "example.org")
        ]
    );
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("dynamic.py: is an inventory script, which provision does not run")),
        "{:?}",
        inv.warnings
    );
    let empty = folder(&[("README.md", "nothing\n")]);
    let e = load_err(&[empty.path().into()]);
    assert!(e.contains("the folder holds no inventory file"), "{e}");
}

#[test]
fn repeated_sources_merge_a_host_listed_in_both_as_ansible_does() {
    let one = folder(&[
        (
            "hosts",
            "[matrix_servers]\nm1 ansible_host=1.1.1.1 ansible_user=first\n",
        ),
        ("group_vars/matrix_servers.yml", "matrix_domain: one.org\n"),
    ]);
    let two = folder(&[
        ("hosts", "[staging]\nm1 ansible_host=2.2.2.2\nm2\n"),
        ("group_vars/matrix_servers.yml", "matrix_domain: two.org\n"),
        ("group_vars/staging.yml", "matrix_domain: staging.org\n"),
    ]);
    let inv = load(&[one.path().join("hosts"), two.path().join("hosts")]).unwrap();
    let m1 = &inv.hosts[0];
    let ssh = m1.ssh.as_ref().unwrap();
    // One host: the later source's variable over the earlier's, the earlier's kept where the
    // later says nothing, and the groups of both.
    assert_eq!(
        (ssh.host.as_str(), ssh.user.as_deref()),
        ("2.2.2.2", Some("first"))
    );
    assert_eq!(
        inv.select(Some("matrix_servers:&staging")).unwrap().len(),
        1
    );
    // The group_vars/ beside every source apply: `staging`'s over `matrix_servers`' (one
    // depth, later by name), whichever source they are beside.
    assert_eq!(m1.server_name, "staging.org");
    assert_eq!(inv.hosts[1].server_name, "staging.org");
    let inv = load(&[two.path().join("hosts"), one.path().join("hosts")]).unwrap();
    assert_eq!(inv.hosts[0].ssh.as_ref().unwrap().host, "1.1.1.1");

    let yaml = folder(&[(
        "inventory.yaml",
        "all:\n  hosts:\n    m1:\n      server_name: a.org\n",
    )]);
    let e = load_err(&[one.path().join("hosts"), yaml.path().join("inventory.yaml")]);
    assert!(
        e.contains("host `m1` is listed here, in a provision (YAML) inventory, and in a playbook (INI) inventory")
            && e.contains("inventory.yaml:3:5"),
        "{e}"
    );
}

#[test]
fn a_long_chain_of_child_groups_is_read_without_running_out_of_stack() {
    let mut text = String::from("[g0]\nm1 matrix_domain=example.org\n");
    for i in 0..20_000 {
        text.push_str(&format!("[g{}:children]\ng{i}\n", i + 1));
    }
    let inv = Inventory::parse(Path::new("/inv/hosts"), &text).unwrap();
    assert_eq!(inv.select(Some("g20000")).unwrap().len(), 1);
}
