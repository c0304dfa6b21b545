//! Integration tests: the built `provision` binary against real servers started by fixtures.
//! One test binary, so each fixture starts once for the whole suite.

mod admin;
mod ansible;
mod apply;
mod bulk;
mod continuwuity;
mod dendrite;
mod dendrite_standin;
mod exec;
mod faults;
mod fixtures;
mod hostile;
mod inventory_example;
mod lifecycle;
mod login;
mod mas;
mod names;
mod pg_tls;
mod plan;
mod playbook;
mod register;
mod retries;
mod ssh_hardening;
mod tokens;
mod trust;
mod tunnel;
mod ux;
