//! Store tests through the consent service over a real SQLite file.

mod check_rule;
mod group_commit;
mod support;
