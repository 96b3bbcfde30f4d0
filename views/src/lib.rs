//! Vigil's domain, written as SQL: the canonical source definitions, the built-in
//! views (velocity, compliance, blocked aging, CRDC readiness, …) as `.sql` files,
//! and YAML rule packs compiled to SQL views (see `shared/design/domain.md`).
//!
//! The crate holds no views yet: the SQL foundation they run on (`vigil-sql`) comes
//! first. When they land, each view is plain SQL that an analyst can read with
//! `SHOW CREATE VIEW`, and the crate only installs them into a fresh data directory.
