//! `provision inventory`: the resolved plan of every selected host, as provision will act on
//! it: backend, transport, admin backend, and where each secret comes from — never a secret.

use crate::cli::{Global, InventoryArgs};
use crate::error::Error;
use crate::inventory::Inventory;

pub fn run(global: &Global, args: InventoryArgs) -> Result<Vec<serde_json::Value>, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.limit.as_deref())?;
    Ok(hosts.iter().map(|h| h.plan()).collect())
}
