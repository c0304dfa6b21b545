//! `provision inventory`: the resolved plan of every selected host, as provision will act on
//! it: backend, transport, admin backend, and where each secret comes from — never a secret.

use serde::Serialize;

use crate::cli::{Global, InventoryArgs, Output};
use crate::error::Error;
use crate::inventory::Inventory;

pub fn run(global: &Global, args: InventoryArgs) -> Result<u8, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.limit.as_deref())?;
    let plans: Vec<serde_json::Value> = hosts.iter().map(|h| h.plan()).collect();
    match global.output {
        Output::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                command: &'static str,
                inventory: String,
                hosts: &'a [serde_json::Value],
            }
            let doc = Doc {
                command: "inventory",
                inventory: global.inventory.display().to_string(),
                hosts: &plans,
            };
            crate::out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Human => {
            for plan in &plans {
                crate::out!("{}", plan["host"].as_str().unwrap_or(""));
                if let Some(map) = plan.as_object() {
                    for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "host") {
                        crate::out!("  {key:<12} {}", human(value));
                    }
                }
            }
        }
    }
    Ok(0)
}

/// `{"kind": "ssh", "user": "root"}` as `ssh user=root`.
fn human(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let kind = map.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            let rest: Vec<String> = map
                .iter()
                .filter(|(k, v)| k.as_str() != "kind" && !v.is_null())
                .map(|(k, v)| format!("{k}={}", human(v)))
                .collect();
            format!("{kind} {}", rest.join(" ")).trim().to_owned()
        }
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        other => other.to_string(),
    }
}
