//! Every backend provision knows, in one list: the one place that names them. The inventory
//! reads a host's `backend` and `admin_backend` through it, and the router asks the built
//! backends what they can do (`Account::ops`); nothing else matches on kinds of backends.
//! Adding a backend is a file in backends/src/ and a line here (README, "Adding a backend").

use provision_backends::Op;
use provision_backends::admin_room::AdminRoom;
use provision_backends::admin_sql::AdminSql;
use provision_backends::dendrite_admin_api::DendriteAdminApi;
use provision_backends::dendrite_cli::DendriteCli;
use provision_backends::keys;
use provision_backends::mas_admin_api::MasAdminApi;
use provision_backends::mas_cli::MasCli;
use provision_backends::playbook_wrapper::PlaybookWrapper;
use provision_backends::registration::Fields;
use provision_backends::settings::{Backend, Config, Homeserver};
use provision_backends::shared_secret::SharedSecret;
use provision_backends::synapse_admin_api::SynapseAdminApi;
use provision_backends::synapse_cli::SynapseCli;

use crate::error::Error;
use crate::inventory::HostSettings;

pub const BACKENDS: &[Kind] = &[
    Kind::of::<SharedSecret>(),
    Kind::of::<SynapseCli>(),
    Kind::of::<DendriteCli>(),
    Kind::of::<MasCli>(),
    Kind::of::<PlaybookWrapper>(),
    Kind::of::<AdminSql>(),
    Kind::of::<SynapseAdminApi>(),
    Kind::of::<MasAdminApi>(),
    Kind::of::<DendriteAdminApi>(),
    Kind::of::<AdminRoom>(),
];

/// A backend's entry: what the inventory needs to know of it before anything is built.
pub struct Kind {
    pub name: &'static str,
    /// The inventory keys it reads.
    pub keys: &'static [&'static str],
    /// Those of `keys` whose value is a mapping, with a function listing its keys.
    pub mappings: &'static [keys::Mapping],
    pub ops: &'static [Op],
    pub fields: Fields,
    pub runs_programs: bool,
    pub homeserver: Option<Homeserver>,
    /// It changes accounts through MAS ([`Backend::THROUGH_MAS`]).
    pub through_mas: bool,
    pub configure: fn(&HostSettings) -> Result<Box<dyn Config>, Error>,
}

impl Kind {
    const fn of<B: Backend>() -> Kind {
        Kind {
            name: B::NAME,
            keys: B::KEYS,
            mappings: B::MAPPINGS,
            ops: B::OPS,
            fields: B::FIELDS,
            runs_programs: B::RUNS_PROGRAMS,
            homeserver: B::HOMESERVER,
            through_mas: B::THROUGH_MAS,
            configure: configure::<B>,
        }
    }

    pub fn can(&self, op: Op) -> bool {
        self.ops.contains(&op)
    }
}

/// Monomorphic over the settings, so that it is one function pointer for every host.
fn configure<B: Backend>(settings: &HostSettings) -> Result<Box<dyn Config>, Error> {
    B::configure(settings)
}

pub fn find(name: &str) -> Option<&'static Kind> {
    BACKENDS.iter().find(|k| k.name == name)
}

/// The names of the backends that can do `op`, for messages ("one of: …").
pub fn names_for(op: Op) -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|k| k.can(op))
        .map(|k| k.name)
        .collect()
}

/// The names of the backends that read the inventory key `key`, for messages.
pub fn names_taking(key: &str) -> Vec<&'static str> {
    BACKENDS
        .iter()
        .filter(|k| k.keys.contains(&key))
        .map(|k| k.name)
        .collect()
}
