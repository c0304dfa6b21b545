//! The published JSON Schemas of `--output json`, one per command (schemas/COMMAND.json),
//! derived by schemars from the very types the renderers print: `Document` (src/render.rs),
//! each command's keys (src/commands/fields.rs), the host and user reports (src/report.rs) and
//! the backends' user states. The test below keeps the files equal to what these types say;
//! the integration tests validate every document they read against its command's schema.
//!
//! [`VERSION`] is the schema's version (README, "JSON output"): within a version keys are only
//! added, never removed, renamed or given another type or meaning.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::commands::fields;
use crate::render::{Bulk, Document, InventoryDocument, Row, TokenRow};

/// The version of the documents' shape, in every schema's `$id`.
pub const VERSION: u32 = 1;

/// No users file: nothing of [`Bulk`].
#[derive(Serialize, JsonSchema)]
pub struct NoBulk {}

/// `provision users`: the rows, then the filters.
#[derive(Serialize, JsonSchema)]
struct Users {
    /// Each user of each host, as the host lists it.
    users: Vec<Row<'static, provision_backends::Listed>>,
    #[serde(flatten)]
    filters: fields::Users,
}

/// `provision token list`: the rows, then the filter.
#[derive(Serialize, JsonSchema)]
struct Tokens {
    /// Each registration token of each host. Secrets while they are valid.
    tokens: Vec<Row<'static, TokenRow<'static>>>,
    #[serde(flatten)]
    filter: fields::TokenList,
}

/// The schema of one shape of a command's document, as a reference into the generator's
/// definitions.
type Shape = fn(&mut SchemaGenerator) -> Schema;

fn shape<F: JsonSchema, B: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Document<'static, F, B>>()
}

/// Every command's schema: (the command as `command` says it, the shapes its document takes).
fn commands() -> Vec<(&'static str, Vec<Shape>)> {
    type User = fields::User<'static>;
    vec![
        (
            "register",
            vec![
                shape::<fields::Register<'static>, NoBulk>,
                shape::<fields::From, Bulk<'static>>,
            ],
        ),
        ("admin", vec![shape::<fields::Admin<'static>, NoBulk>]),
        ("password", vec![shape::<fields::Password<'static>, NoBulk>]),
        ("lock", vec![shape::<User, NoBulk>]),
        ("unlock", vec![shape::<User, NoBulk>]),
        (
            "deactivate",
            vec![shape::<fields::Deactivate<'static>, NoBulk>],
        ),
        ("reactivate", vec![shape::<User, NoBulk>]),
        ("show", vec![shape::<User, NoBulk>]),
        ("users", vec![shape::<Users, NoBulk>]),
        (
            "token issue",
            vec![shape::<fields::TokenIssue<'static>, NoBulk>],
        ),
        ("token list", vec![shape::<Tokens, NoBulk>]),
        ("token revoke", vec![shape::<NoBulk, NoBulk>]),
        ("plan", vec![shape::<fields::Plan, NoBulk>]),
        ("apply", vec![shape::<fields::Plan, Option<Bulk<'static>>>]),
        ("login", vec![shape::<fields::Login<'static>, NoBulk>]),
        ("ping", vec![shape::<NoBulk, NoBulk>]),
        (
            "inventory",
            vec![|g| g.subschema_for::<InventoryDocument<'static>>()],
        ),
    ]
}

/// The command's name in its schema's file and `$id`: `token list` is `token-list`.
fn slug(command: &str) -> String {
    command.replace(' ', "-")
}

/// The schema's file in schemas/: `token-list.json`.
pub fn file(command: &str) -> String {
    format!("{}.json", slug(command))
}

/// Every schema: (its file in schemas/, schema).
pub fn all() -> Vec<(String, Value)> {
    commands()
        .into_iter()
        .map(|(command, shapes)| {
            let mut generator = SchemaSettings::draft2020_12().into_generator();
            let shapes: Vec<Value> = shapes
                .iter()
                .map(|shape| shape(&mut generator).to_value())
                .collect();
            let mut schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": format!("urn:provision:output:v{VERSION}:{}", slug(command)),
                "title": format!("provision {command} --output json"),
                "description": format!(
                    "The document `provision {command} --output json` prints (schema version {VERSION})."
                ),
                "properties": {"command": {"const": command}},
            });
            match <[Value; 1]>::try_from(shapes) {
                Ok([one]) => schema["$ref"] = one["$ref"].clone(),
                Err(shapes) => schema["oneOf"] = Value::Array(shapes),
            }
            schema["$defs"] = Value::Object(generator.take_definitions(true));
            (file(command), schema)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Set to rewrite schemas/*.json from the types, after a change to the output.
    const BLESS: &str = "PROVISION_BLESS_SCHEMAS";

    /// The published files are what the types say: a change to the output that does not
    /// update them fails here.
    #[test]
    fn the_published_schemas_are_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let bless = std::env::var_os(BLESS).is_some();
        let mut stale = Vec::new();
        for (file, schema) in super::all() {
            let path = dir.join(&file);
            let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "stale schemas: {}; rewrite them with {BLESS}=1 cargo test --lib schema",
            stale.join(", ")
        );
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, super::all().len(), "a schema file no command has");
    }
}
