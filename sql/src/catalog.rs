//! The catalog: every table, source, view and materialized view, by id and by name.
//!
//! Entries are persisted (see [`crate::storage`]) as their definition; on start the
//! coordinator replays them in id order, so an item's dependencies always come first.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use serde::{Deserialize, Serialize};
use vigil_engine::GlobalId;
use vigil_engine::repr::RelationDesc;

use crate::sink::SinkTarget;
use crate::source::SourceEnvelope;

/// What kind of relation an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemKind {
    /// A table written by INSERT, UPDATE, DELETE and COPY.
    Table { primary_key: Vec<usize> },
    /// A query inlined wherever the view is used.
    View { query: String },
    /// A query maintained incrementally by a dataflow, keeping `retain_ms` of history
    /// for reads and subscriptions as of past times.
    MaterializedView { query: String, retain_ms: u64 },
    /// A topic of the change log, read by the engine (see [`crate::source`]).
    Source {
        topic: String,
        envelope: SourceEnvelope,
        primary_key: Vec<usize>,
        /// Per column, the JSON path it reads, when not its own name.
        paths: Vec<Option<String>>,
        /// The topic's partitions when the source was created.
        partitions: u32,
    },
    /// A view's changes sent out of Vigil (see [`crate::sink`]); not a relation.
    Sink {
        from: GlobalId,
        target: SinkTarget,
        options: BTreeMap<String, String>,
    },
}

impl ItemKind {
    pub fn noun(&self) -> &'static str {
        match self {
            ItemKind::Table { .. } => "table",
            ItemKind::View { .. } => "view",
            ItemKind::MaterializedView { .. } => "materialized view",
            ItemKind::Source { .. } => "source",
            ItemKind::Sink { .. } => "sink",
        }
    }

    /// Whether queries can read the item (everything but sinks).
    pub fn is_relation(&self) -> bool {
        !matches!(self, ItemKind::Sink { .. })
    }
}

/// The persisted definition of a catalog item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ItemDef {
    pub name: String,
    pub kind: ItemKind,
    pub desc: RelationDesc,
    /// The statement that created the item, as the user wrote it.
    pub create_sql: String,
    /// Relations the item reads (directly, including views it names).
    pub depends_on: Vec<GlobalId>,
}

/// A catalog item with what planning needs in memory.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: GlobalId,
    pub def: ItemDef,
    /// How DataFusion reads the item.
    pub provider: Arc<dyn TableProvider>,
}

/// All catalog items. Cloned cheaply into each statement's planning context.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<GlobalId, Arc<Entry>>,
    by_name: BTreeMap<String, GlobalId>,
}

impl Catalog {
    pub fn get(&self, id: GlobalId) -> Option<&Arc<Entry>> {
        self.entries.get(&id)
    }

    pub fn resolve(&self, name: &str) -> Option<&Arc<Entry>> {
        self.by_name.get(name).and_then(|id| self.entries.get(id))
    }

    pub fn insert(&mut self, entry: Entry) {
        self.by_name.insert(entry.def.name.clone(), entry.id);
        self.entries.insert(entry.id, Arc::new(entry));
    }

    pub fn remove(&mut self, id: GlobalId) -> Option<Arc<Entry>> {
        let entry = self.entries.remove(&id)?;
        self.by_name.remove(&entry.def.name);
        Some(entry)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.entries.values()
    }

    /// The relation named `name`: like [`resolve`](Self::resolve), but not a sink.
    pub fn relation(&self, name: &str) -> Option<&Arc<Entry>> {
        self.resolve(name).filter(|e| e.def.kind.is_relation())
    }

    /// Every item queries can read.
    pub fn relations(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.entries().filter(|e| e.def.kind.is_relation())
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }

    /// Items that read `id` directly.
    pub fn dependents(&self, id: GlobalId) -> Vec<GlobalId> {
        self.entries
            .values()
            .filter(|e| e.def.depends_on.contains(&id))
            .map(|e| e.id)
            .collect()
    }

    /// `id` and everything that depends on it, dependents before what they read.
    pub fn drop_order(&self, id: GlobalId) -> Vec<GlobalId> {
        let mut order = Vec::new();
        self.visit_dependents(id, &mut order);
        order
    }

    fn visit_dependents(&self, id: GlobalId, order: &mut Vec<GlobalId>) {
        if order.contains(&id) {
            return;
        }
        for dependent in self.dependents(id) {
            self.visit_dependents(dependent, order);
        }
        order.push(id);
    }
}
