//! Source connectors: clients for Jira, ClickUp, Azure Boards, GitHub, PowerSchool,
//! Infinite Campus and CSV that fetch, page, back off, normalize into canonical
//! records and publish change events to the change log (Kafka or the embedded log).
//!
//! Each source will be a folder with three parts kept apart: transport (HTTP with
//! paging and rate limits), format (the source's JSON shape) and mapping (JSON to
//! canonical record). The crate is empty until the change log and sources exist in
//! the engine; it knows the change log and the canonical model, never the engine.
