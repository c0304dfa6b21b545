//! inventory.example.yaml is the reference of provision's inventory: it loads cleanly, and it
//! shows every key provision reads and every backend and homeserver, so a key added to the
//! code without being documented there fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::fixtures::{json, provision, text};

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("inventory.example.yaml")
        .display()
        .to_string()
}

#[test]
fn the_example_inventory_loads_without_an_error_or_a_warning() {
    // Its secrets are only named: `inventory` shows their sources and reads none, so none
    // of its files or variables need to exist.
    let out = provision(&["inventory", "-i", &example(), "--output", "json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "a warning");
    let doc = json(&out);
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert!(hosts.len() >= 6, "{doc:#}");
}

/// What the example says, read as Ansible's layout: every key written (a mapping's keys after
/// its own: `ssh.port`), and the values of each variable that names a backend or homeserver.
#[derive(Default)]
struct Written {
    keys: BTreeSet<String>,
    values: BTreeMap<String, BTreeSet<String>>,
}

impl Written {
    fn group(&mut self, group: &Value) {
        for (key, value) in group.as_object().into_iter().flatten() {
            self.keys.insert(key.clone());
            let entries = value.as_object().into_iter().flatten();
            match key.as_str() {
                "vars" => self.vars("", value),
                "hosts" => entries.for_each(|(_, vars)| self.vars("", vars)),
                "children" => entries.for_each(|(_, child)| self.group(child)),
                other => panic!("`{other}` is no key of an inventory group"),
            }
        }
    }

    fn vars(&mut self, prefix: &str, vars: &Value) {
        for (key, value) in vars.as_object().into_iter().flatten() {
            let path = format!("{prefix}{key}");
            let names = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let seen = self.values.entry(path.clone()).or_default();
            seen.extend(names.into_iter().map(str::to_owned));
            self.vars(&format!("{path}."), value);
            self.keys.insert(path);
        }
    }
}

#[test]
fn the_example_inventory_shows_every_key_backend_and_homeserver() {
    let yaml = std::fs::read_to_string(example()).unwrap();
    let doc: BTreeMap<String, Value> = serde_saphyr::from_str(&yaml).unwrap();
    let mut written = Written::default();
    doc.values().for_each(|group| written.group(group));

    let missing: Vec<String> = provision::inventory::reference_keys()
        .into_iter()
        .filter(|k| !written.keys.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "inventory.example.yaml does not show these keys (add each, with a comment): {missing:?}"
    );

    let named = |key: &str| written.values.get(key).cloned().unwrap_or_default();
    let backends: BTreeSet<String> = named("backend")
        .union(&named("admin_backend"))
        .cloned()
        .collect();
    for kind in provision::registry::BACKENDS {
        assert!(
            backends.contains(kind.name),
            "no host of inventory.example.yaml uses the backend {}",
            kind.name
        );
    }
    for homeserver in provision_backends::settings::Homeserver::ALL {
        assert!(
            named("homeserver").contains(homeserver.name()),
            "no host of inventory.example.yaml says homeserver: {}",
            homeserver.name()
        );
    }
}
