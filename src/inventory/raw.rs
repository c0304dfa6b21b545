//! The inventory file as written: Ansible's YAML layout, with every key and value carrying the
//! place it was written so that later checks can point at it.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Top level: group names (usually just `all`) to groups.
pub type Document = IndexMap<Spanned<String>, Option<Group>>;

/// Variables of a host or group; checked and typed later, once merged.
pub type Vars = IndexMap<Spanned<String>, Spanned<serde_json::Value>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(default)]
    pub hosts: Option<IndexMap<Spanned<String>, Option<Vars>>>,
    #[serde(default)]
    pub vars: Option<Vars>,
    #[serde(default)]
    pub children: Option<IndexMap<Spanned<String>, Option<Group>>>,
}
