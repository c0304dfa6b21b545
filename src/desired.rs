//! What a users file wants of a host's users, against what the host has: the changes that
//! would bring the host there, in the order they would be made. `provision plan` shows them;
//! `provision apply` makes them. Pure: nothing here asks a host anything.

use std::collections::{HashMap, HashSet};
use std::fmt;

use provision_backends::registration::Fields;
use provision_backends::{Op, UserId, UserState, same_set};
use serde::Serialize;

use crate::users::{BulkUser, State};

/// What the file wants of one user. `None`: the file does not say, and the host's value is
/// left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub admin: Option<bool>,
    pub state: State,
    /// With [`State::Deactivated`]: erase the user's data too.
    pub erase: bool,
    pub display_name: Option<String>,
    /// Every email address it is to have (canonical): others are removed.
    pub emails: Option<Vec<String>>,
    /// Synapse's user type; `Some(None)`: a regular user.
    pub user_type: Option<Option<String>>,
    /// Rooms it is to be in, as the file writes them (with `state: present` only).
    pub rooms: Vec<String>,
}

impl From<&BulkUser> for Wanted {
    fn from(u: &BulkUser) -> Self {
        Wanted {
            admin: u.admin,
            state: u.state,
            erase: u.erase,
            display_name: u.display_name.clone(),
            emails: u.emails.clone(),
            user_type: u.user_type.clone(),
            rooms: u.rooms.clone(),
        }
    }
}

/// What a host says beyond its users' states: the rooms of the file it knows (as written →
/// room ID), and the rooms each user is in (`None` for a user: the host cannot say).
#[derive(Debug, Default)]
pub struct Rooms {
    pub ids: HashMap<String, String>,
    pub joined: HashMap<String, HashSet<String>>,
    /// The host can read memberships.
    pub readable: bool,
}

/// One change to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        admin: bool,
    },
    /// The admin flag, from what the host has to what the file says.
    SetAdmin {
        from: bool,
        to: bool,
    },
    Unlock,
    Reactivate,
    /// `from`: `None` when it has none.
    SetDisplayName {
        from: Option<String>,
        to: String,
    },
    SetEmails {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Synapse's user type; `None`: a regular user.
    SetUserType {
        from: Option<String>,
        to: Option<String>,
    },
    /// Join a room, as the file writes it.
    Join {
        room: String,
    },
    Lock,
    Deactivate {
        erase: bool,
    },
}

impl Action {
    /// What a host needs a backend for, to make it.
    pub fn op(&self) -> Op {
        match self {
            Action::Create { .. } => Op::Register,
            Action::SetAdmin { .. } => Op::SetAdmin,
            Action::SetDisplayName { .. }
            | Action::SetEmails { .. }
            | Action::SetUserType { .. } => Op::Profile,
            Action::Join { .. } => Op::Join,
            Action::Unlock | Action::Lock => Op::Lock,
            Action::Reactivate => Op::Reactivate,
            Action::Deactivate { .. } => Op::Deactivate,
        }
    }

    /// How a plan counts it: to create, to change or to deactivate.
    pub fn kind(&self) -> Kind {
        match self {
            Action::Create { .. } => Kind::Create,
            Action::Deactivate { .. } => Kind::Deactivate,
            _ => Kind::Change,
        }
    }

    /// Its word in JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::SetAdmin { .. }
            | Action::SetDisplayName { .. }
            | Action::SetEmails { .. }
            | Action::SetUserType { .. } => "change",
            Action::Join { .. } => "join",
            Action::Unlock => "unlock",
            Action::Reactivate => "reactivate",
            Action::Lock => "lock",
            Action::Deactivate { .. } => "deactivate",
        }
    }
}

/// How a plan counts its changes, as Terraform counts add, change and destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Create,
    Change,
    Deactivate,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Create, Kind::Change, Kind::Deactivate];

    pub fn word(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Change => "change",
            Kind::Deactivate => "deactivate",
        }
    }
}

/// A change to a user, planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub user: UserId,
    pub action: Action,
}

/// Terraform's way: `+` creates, `~` changes, `-` takes away.
impl fmt::Display for Planned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = &self.user;
        let name = |n: &Option<String>| match n {
            Some(n) => format!("{n:?}"),
            None => "(none)".to_owned(),
        };
        let list = |l: &[String]| format!("[{}]", l.join(", "));
        match &self.action {
            Action::Create { admin: true } => write!(f, "+ create {user} (admin)"),
            Action::Create { admin: false } => write!(f, "+ create {user}"),
            Action::SetAdmin { from, to } => write!(f, "~ {user} admin: {from} → {to}"),
            Action::SetDisplayName { from, to } => {
                write!(f, "~ {user} display_name: {} → {to:?}", name(from))
            }
            Action::SetEmails { from, to } => {
                write!(f, "~ {user} emails: {} → {}", list(from), list(to))
            }
            Action::SetUserType { from, to } => {
                let kind = |t: &Option<String>| t.as_deref().unwrap_or("(regular)").to_owned();
                write!(f, "~ {user} user_type: {} → {}", kind(from), kind(to))
            }
            Action::Join { room } => write!(f, "~ {user} join {room}"),
            Action::Unlock => write!(f, "~ {user} unlock"),
            Action::Reactivate => write!(f, "~ {user} reactivate"),
            Action::Lock => write!(f, "~ {user} lock"),
            Action::Deactivate { erase: false } => write!(f, "- {user} deactivate"),
            Action::Deactivate { erase: true } => write!(f, "- {user} deactivate (erase)"),
        }
    }
}

/// A planned change in JSON, `{"user", "action", "field"?, "from"?, "to"?, "admin"?, "erase"?,
/// "room"?}`: `change` names the `field` and its values; `create` says `admin`, `deactivate`
/// says `erase`, `join` says `room`. `Planned` serializes through it, so the published schema
/// (schemas/plan.json) is derived from what is printed.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Change", deny_unknown_fields)]
pub struct PlannedJson<'a> {
    /// The user's Matrix ID.
    pub user: String,
    /// create, change, join, unlock, reactivate, lock or deactivate.
    pub action: &'static str,
    /// With `change`: admin, display_name, emails or user_type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// With `change`: the host's value (a display name is null when it has none, a user type
    /// for a regular user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value<'a>>,
    /// With `change`: what the file wants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value<'a>>,
    /// With `create`: whether the new user is a server admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// With `deactivate`: whether its data is erased too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erase: Option<bool>,
    /// With `join`: the room, as the users file writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<&'a str>,
}

/// A changed field's value: the admin flag, a display name or user type (null: none) or email
/// addresses.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Value<'a> {
    Flag(bool),
    Name(Option<&'a str>),
    Emails(&'a [String]),
}

impl Planned {
    pub fn json(&self) -> PlannedJson<'_> {
        let mut json = PlannedJson {
            user: self.user.to_string(),
            action: self.action.word(),
            field: None,
            from: None,
            to: None,
            admin: None,
            erase: None,
            room: None,
        };
        let mut change = |field, from, to| {
            json.field = Some(field);
            json.from = Some(from);
            json.to = Some(to);
        };
        match &self.action {
            Action::SetAdmin { from, to } => change("admin", Value::Flag(*from), Value::Flag(*to)),
            Action::SetDisplayName { from, to } => change(
                "display_name",
                Value::Name(from.as_deref()),
                Value::Name(Some(to)),
            ),
            Action::SetEmails { from, to } => {
                change("emails", Value::Emails(from), Value::Emails(to))
            }
            Action::SetUserType { from, to } => change(
                "user_type",
                Value::Name(from.as_deref()),
                Value::Name(to.as_deref()),
            ),
            Action::Create { admin } => json.admin = Some(*admin),
            Action::Join { room } => json.room = Some(room),
            Action::Deactivate { erase } => json.erase = Some(*erase),
            Action::Unlock | Action::Reactivate | Action::Lock => {}
        }
        json
    }
}

impl Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// The schema of a planned change is its JSON's.
impl schemars::JsonSchema for Planned {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        PlannedJson::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        PlannedJson::json_schema(generator)
    }
}

/// One user's plan: its changes in order, and what the host's answer leaves unsaid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Planned>,
    pub warnings: Vec<String>,
    /// A change may be missing: the host does not say something the plan depends on.
    pub uncertain: bool,
}

/// The changes that bring `user` from `now` (`None`: no such user) to what is `wanted`, in
/// the order they would be made: create, the admin flag, unlock, reactivate, display name,
/// emails, rooms, lock, deactivate. A new user gets its display name and emails with its
/// registration where the registering backend passes them on (`creates`), else right after.
/// What the host does not say is a warning, never a guess. A room of the file the host does
/// not know is left out here: the caller says so once per host.
pub fn diff(
    user: &UserId,
    wanted: &Wanted,
    now: Option<&UserState>,
    creates: Fields,
    rooms: &Rooms,
) -> Diff {
    let mut diff = Diff::default();
    let mut actions = Vec::new();
    let joins = |joined: &HashSet<String>| -> Vec<Action> {
        wanted
            .rooms
            .iter()
            .filter(|room| match rooms.ids.get(*room) {
                Some(id) => !joined.contains(id),
                // Where memberships cannot be read the join is planned, and the host's lack
                // said; a room the host does not know is said by the caller.
                None => !rooms.readable,
            })
            .map(|room| Action::Join { room: room.clone() })
            .collect()
    };
    let Some(now) = now else {
        if wanted.state == State::Deactivated {
            // Never created is as deactivated as it gets.
            return diff;
        }
        actions.push(Action::Create {
            admin: wanted.admin == Some(true),
        });
        if let Some(to) = wanted
            .display_name
            .clone()
            .filter(|_| !creates.display_name)
        {
            actions.push(Action::SetDisplayName { from: None, to });
        }
        if let Some(to) = wanted.emails.clone().filter(|_| !creates.emails) {
            actions.push(Action::SetEmails {
                from: Vec::new(),
                to,
            });
        }
        if let Some(to) = wanted
            .user_type
            .clone()
            .flatten()
            .filter(|_| !creates.user_type)
        {
            actions.push(Action::SetUserType {
                from: None,
                to: Some(to),
            });
        }
        actions.extend(joins(&HashSet::new()));
        if wanted.state == State::Locked {
            actions.push(Action::Lock);
        }
        diff.changes = planned(user, actions);
        return diff;
    };
    let mut unsaid = Vec::new();
    let is = |what: &str| format!("whether {user} is {what}");
    if let Some(to) = wanted.admin {
        match now.admin {
            Some(from) if from != to => actions.push(Action::SetAdmin { from, to }),
            Some(_) => {}
            None => unsaid.push(is("an admin")),
        }
    }
    let (locked, deactivated) = (now.locked, now.deactivated);
    if wanted.state == State::Present {
        match locked {
            Some(true) => actions.push(Action::Unlock),
            Some(false) => {}
            None => unsaid.push(is("locked")),
        }
        match deactivated {
            Some(true) => actions.push(Action::Reactivate),
            Some(false) => {}
            None => unsaid.push(is("deactivated")),
        }
    }
    // A deactivated user's profile is left alone: it is gone, or to go.
    if wanted.state != State::Deactivated {
        if let Some(to) = &wanted.display_name {
            match &now.display_name {
                Some(from) if from.as_ref() != Some(to) => actions.push(Action::SetDisplayName {
                    from: from.clone(),
                    to: to.clone(),
                }),
                Some(_) => {}
                None => unsaid.push(format!("{user}'s display name")),
            }
        }
        if let Some(to) = &wanted.emails {
            match &now.emails {
                Some(from) if !same_set(from, to) => actions.push(Action::SetEmails {
                    from: from.clone(),
                    to: to.clone(),
                }),
                Some(_) => {}
                None => unsaid.push(format!("{user}'s email addresses")),
            }
        }
        if let Some(to) = &wanted.user_type {
            match &now.user_type {
                Some(from) if from != to => actions.push(Action::SetUserType {
                    from: from.clone(),
                    to: to.clone(),
                }),
                Some(_) => {}
                None => unsaid.push(format!("{user}'s user type")),
            }
        }
    }
    if wanted.state == State::Present && !wanted.rooms.is_empty() {
        match rooms.joined.get(&user.to_string()) {
            Some(joined) => actions.extend(joins(joined)),
            None if !rooms.readable => actions.extend(joins(&HashSet::new())),
            None => unsaid.push(format!("which rooms {user} is in")),
        }
    }
    match wanted.state {
        State::Present => {}
        State::Locked => match (locked, deactivated) {
            // A deactivated user cannot log in either; state: locked does not bring it back.
            (_, Some(true)) => diff.warnings.push(format!(
                "{user} is deactivated: state: locked leaves it so (state: present would reactivate it)"
            )),
            (Some(true), _) => {}
            (Some(false), _) => actions.push(Action::Lock),
            (None, _) => unsaid.push(is("locked")),
        },
        State::Deactivated => match deactivated {
            Some(true) => {}
            Some(false) => actions.push(Action::Deactivate {
                erase: wanted.erase,
            }),
            None => unsaid.push(is("deactivated")),
        },
    }
    if matches!(wanted.state, State::Locked) && deactivated.is_none() {
        unsaid.push(is("deactivated"));
    }
    for what in unsaid {
        diff.warnings.push(format!(
            "cannot tell {what}: the host's answer does not say"
        ));
        diff.uncertain = true;
    }
    diff.changes = planned(user, actions);
    diff
}

fn planned(user: &UserId, actions: Vec<Action>) -> Vec<Planned> {
    actions
        .into_iter()
        .map(|action| Planned {
            user: user.clone(),
            action,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> UserId {
        UserId::new("bob", "example.com").unwrap()
    }

    fn want(state: State, admin: Option<bool>) -> Wanted {
        Wanted {
            admin,
            state,
            ..Wanted::default()
        }
    }

    fn diff(user: &UserId, wanted: Wanted, now: Option<&UserState>) -> Diff {
        super::diff(user, &wanted, now, Fields::NONE, &Rooms::default())
    }

    fn state(admin: bool, locked: bool, deactivated: bool) -> UserState {
        UserState {
            admin: Some(admin),
            locked: Some(locked),
            deactivated: Some(deactivated),
            ..UserState::default()
        }
    }

    /// The changes as a person reads them.
    fn lines(wanted: Wanted, now: Option<&UserState>) -> Vec<String> {
        let diff = diff(&id(), wanted, now);
        assert!(!diff.uncertain && diff.warnings.is_empty(), "{diff:?}");
        diff.changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_absent_user_is_created_and_locked_if_so_wanted_but_never_to_be_deactivated() {
        assert_eq!(
            lines(want(State::Present, Some(true)), None),
            ["+ create @bob:example.com (admin)"]
        );
        assert_eq!(
            lines(want(State::Present, None), None),
            ["+ create @bob:example.com"]
        );
        assert_eq!(
            lines(want(State::Locked, Some(false)), None),
            ["+ create @bob:example.com", "~ @bob:example.com lock"]
        );
        let none: [&str; 0] = [];
        assert_eq!(lines(want(State::Deactivated, Some(true)), None), none);
    }

    #[test]
    fn an_existing_user_gets_its_changes_in_order() {
        let none: [&str; 0] = [];
        let plain = state(false, false, false);
        assert_eq!(lines(want(State::Present, None), Some(&plain)), none);
        assert_eq!(lines(want(State::Present, Some(false)), Some(&plain)), none);
        assert_eq!(
            lines(want(State::Present, Some(true)), Some(&plain)),
            ["~ @bob:example.com admin: false → true"]
        );
        assert_eq!(
            lines(
                want(State::Present, Some(false)),
                Some(&state(true, true, true))
            ),
            [
                "~ @bob:example.com admin: true → false",
                "~ @bob:example.com unlock",
                "~ @bob:example.com reactivate"
            ]
        );
        assert_eq!(
            lines(want(State::Locked, None), Some(&plain)),
            ["~ @bob:example.com lock"]
        );
        assert_eq!(
            lines(want(State::Locked, None), Some(&state(false, true, false))),
            none
        );
        assert_eq!(
            lines(want(State::Deactivated, None), Some(&plain)),
            ["- @bob:example.com deactivate"]
        );
        let erase = Wanted {
            erase: true,
            ..want(State::Deactivated, None)
        };
        assert_eq!(
            lines(erase, Some(&state(false, true, false))),
            ["- @bob:example.com deactivate (erase)"]
        );
        assert_eq!(
            lines(
                want(State::Deactivated, None),
                Some(&state(false, false, true))
            ),
            none
        );
    }

    #[test]
    fn a_locked_wish_leaves_a_deactivated_user_so_and_says_it() {
        let d = diff(
            &id(),
            want(State::Locked, None),
            Some(&state(false, false, true)),
        );
        assert!(d.changes.is_empty() && !d.uncertain);
        assert_eq!(
            d.warnings,
            [
                "@bob:example.com is deactivated: state: locked leaves it so (state: present would reactivate it)"
            ]
        );
    }

    #[test]
    fn what_the_host_does_not_say_is_a_warning_never_a_guess() {
        let unknown = UserState::default();
        let d = diff(&id(), want(State::Present, Some(true)), Some(&unknown));
        assert!(d.changes.is_empty() && d.uncertain);
        assert_eq!(
            d.warnings,
            [
                "cannot tell whether @bob:example.com is an admin: the host's answer does not say",
                "cannot tell whether @bob:example.com is locked: the host's answer does not say",
                "cannot tell whether @bob:example.com is deactivated: the host's answer does not say",
            ]
        );
        // Without `admin` in the file, the flag is not asked about.
        let known = UserState {
            admin: None,
            ..state(false, false, false)
        };
        let d = diff(&id(), want(State::Present, None), Some(&known));
        assert_eq!(d, Diff::default());
        // A lock on a user whose deactivation is unknown is still planned, with the warning.
        let d = diff(
            &id(),
            want(State::Locked, None),
            Some(&UserState {
                locked: Some(false),
                ..UserState::default()
            }),
        );
        assert_eq!(d.changes.len(), 1);
        assert!(d.uncertain && d.warnings[0].contains("is deactivated"));
    }

    #[test]
    fn changes_serialize_as_user_action_and_what_they_set() {
        let json = |action| serde_json::to_string(&Planned { user: id(), action }).unwrap();
        assert_eq!(
            json(Action::Create { admin: true }),
            r#"{"user":"@bob:example.com","action":"create","admin":true}"#
        );
        assert_eq!(
            json(Action::SetAdmin {
                from: false,
                to: true
            }),
            r#"{"user":"@bob:example.com","action":"change","field":"admin","from":false,"to":true}"#
        );
        assert_eq!(
            json(Action::Lock),
            r#"{"user":"@bob:example.com","action":"lock"}"#
        );
        assert_eq!(
            json(Action::Deactivate { erase: true }),
            r#"{"user":"@bob:example.com","action":"deactivate","erase":true}"#
        );
    }

    fn lines_of(d: &Diff) -> Vec<String> {
        d.changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn profile_and_rooms_follow_a_creation_the_registration_cannot_carry() {
        let wanted = Wanted {
            display_name: Some("Bob B".into()),
            emails: Some(vec!["bob@example.com".into()]),
            rooms: vec!["#general:example.com".into()],
            ..want(State::Present, None)
        };
        let rooms = Rooms {
            ids: HashMap::from([("#general:example.com".into(), "!g:example.com".into())]),
            readable: true,
            ..Rooms::default()
        };
        let creates = Fields {
            display_name: true,
            ..Fields::NONE
        };
        let d = super::diff(&id(), &wanted, None, creates, &rooms);
        assert_eq!(
            lines_of(&d),
            [
                "+ create @bob:example.com",
                "~ @bob:example.com emails: [] → [bob@example.com]",
                "~ @bob:example.com join #general:example.com"
            ]
        );
        // Registered without any field: the display name follows too.
        let d = super::diff(&id(), &wanted, None, Fields::NONE, &rooms);
        assert_eq!(
            lines_of(&d)[1],
            "~ @bob:example.com display_name: (none) → \"Bob B\""
        );
    }

    #[test]
    fn an_existing_users_profile_and_rooms_are_compared() {
        let wanted = Wanted {
            display_name: Some("Bob B".into()),
            emails: Some(vec!["b@example.com".into(), "a@example.com".into()]),
            rooms: vec!["#general:example.com".into(), "!r:example.com".into()],
            ..want(State::Present, None)
        };
        let mut rooms = Rooms {
            ids: HashMap::from([
                ("#general:example.com".into(), "!g:example.com".into()),
                ("!r:example.com".into(), "!r:example.com".into()),
            ]),
            readable: true,
            ..Rooms::default()
        };
        rooms.joined.insert(
            id().to_string(),
            HashSet::from(["!g:example.com".to_owned()]),
        );
        let mut now = UserState {
            display_name: Some(Some("Bob B".into())),
            emails: Some(vec!["a@example.com".into(), "b@example.com".into()]),
            ..state(false, false, false)
        };
        let d = super::diff(&id(), &wanted, Some(&now), Fields::NONE, &rooms);
        assert_eq!(lines_of(&d), ["~ @bob:example.com join !r:example.com"]);
        now.display_name = Some(None);
        now.emails = Some(vec!["a@example.com".into()]);
        rooms
            .joined
            .get_mut(&id().to_string())
            .unwrap()
            .insert("!r:example.com".into());
        let d = super::diff(&id(), &wanted, Some(&now), Fields::NONE, &rooms);
        assert_eq!(
            lines_of(&d),
            [
                "~ @bob:example.com display_name: (none) → \"Bob B\"",
                "~ @bob:example.com emails: [a@example.com] → [b@example.com, a@example.com]"
            ]
        );
        assert!(d.warnings.is_empty());
        // Not said by the host: warnings, no guess.
        now.display_name = None;
        now.emails = None;
        rooms.joined.clear();
        let d = super::diff(&id(), &wanted, Some(&now), Fields::NONE, &rooms);
        assert!(d.changes.is_empty() && d.uncertain);
        assert_eq!(
            d.warnings,
            [
                "cannot tell @bob:example.com's display name: the host's answer does not say",
                "cannot tell @bob:example.com's email addresses: the host's answer does not say",
                "cannot tell which rooms @bob:example.com is in: the host's answer does not say",
            ]
        );
        // A user to deactivate keeps its profile as it is.
        let gone = Wanted {
            rooms: Vec::new(),
            ..Wanted {
                state: State::Deactivated,
                ..wanted
            }
        };
        let d = super::diff(&id(), &gone, Some(&now), Fields::NONE, &rooms);
        assert_eq!(lines_of(&d), ["- @bob:example.com deactivate"]);
    }

    #[test]
    fn profile_changes_serialize_with_their_field() {
        let json = |action| serde_json::to_string(&Planned { user: id(), action }).unwrap();
        assert_eq!(
            json(Action::SetDisplayName {
                from: None,
                to: "B".into()
            }),
            r#"{"user":"@bob:example.com","action":"change","field":"display_name","from":null,"to":"B"}"#
        );
        assert_eq!(
            json(Action::Join {
                room: "#g:example.com".into()
            }),
            r##"{"user":"@bob:example.com","action":"join","room":"#g:example.com"}"##
        );
        assert_eq!(
            json(Action::SetUserType {
                from: Some("bot".into()),
                to: None
            }),
            r#"{"user":"@bob:example.com","action":"change","field":"user_type","from":"bot","to":null}"#
        );
    }

    /// A user type is compared where the host says it (null: a regular user), set after the
    /// registration where the registration cannot carry it, and unsaid where the host is
    /// silent.
    #[test]
    fn user_types_are_compared_created_and_unsaid() {
        let wanted = |t: Option<&str>| Wanted {
            user_type: Some(t.map(str::to_owned)),
            ..want(State::Present, None)
        };
        let mut now = UserState {
            user_type: Some(Some("bot".into())),
            ..state(false, false, false)
        };
        let d = diff(&id(), wanted(Some("bot")), Some(&now));
        assert!(d.changes.is_empty() && !d.uncertain);
        let d = diff(&id(), wanted(None), Some(&now));
        assert_eq!(
            lines_of(&d),
            ["~ @bob:example.com user_type: bot → (regular)"]
        );
        now.user_type = None;
        let d = diff(&id(), wanted(None), Some(&now));
        assert!(d.changes.is_empty() && d.uncertain);
        // Created with it where the registration carries it, else set right after.
        let d = diff(&id(), wanted(Some("support")), None);
        assert_eq!(
            lines_of(&d),
            [
                "+ create @bob:example.com",
                "~ @bob:example.com user_type: (regular) → support"
            ]
        );
        let carries = Fields {
            user_type: true,
            ..Fields::NONE
        };
        let d = super::diff(
            &id(),
            &wanted(Some("support")),
            None,
            carries,
            &Rooms::default(),
        );
        assert_eq!(lines_of(&d), ["+ create @bob:example.com"]);
    }
}
