//! The columns of each `pg_catalog` relation, named and ordered as in PostgreSQL 16,
//! so queries written against PostgreSQL's catalogs find every column they name.
//! Types follow [`Ty`]: `oid`-like columns are integers, `name` and `"char"` are
//! text, `oidvector` and `int2vector` are arrays.

use super::Ty::{
    Bool, Float4, Int2, Int2Array, Int4, Int8, Oid, OidArray, Text, TextArray, TimestampTz,
};
use super::{Col, SystemKind, SystemTable};

/// Every pg_catalog relation Vigil serves, with PostgreSQL's oid and kind.
pub(crate) const PG_CATALOG: &[SystemTable] = &[
    SystemTable {
        name: "pg_aggregate",
        oid: 2600,
        kind: SystemKind::Table,
        columns: PG_AGGREGATE,
    },
    SystemTable {
        name: "pg_am",
        oid: 2601,
        kind: SystemKind::Table,
        columns: PG_AM,
    },
    SystemTable {
        name: "pg_attrdef",
        oid: 2604,
        kind: SystemKind::Table,
        columns: PG_ATTRDEF,
    },
    SystemTable {
        name: "pg_attribute",
        oid: 1249,
        kind: SystemKind::Table,
        columns: PG_ATTRIBUTE,
    },
    SystemTable {
        name: "pg_auth_members",
        oid: 1261,
        kind: SystemKind::Table,
        columns: PG_AUTH_MEMBERS,
    },
    SystemTable {
        name: "pg_cast",
        oid: 2605,
        kind: SystemKind::Table,
        columns: PG_CAST,
    },
    SystemTable {
        name: "pg_class",
        oid: 1259,
        kind: SystemKind::Table,
        columns: PG_CLASS,
    },
    SystemTable {
        name: "pg_collation",
        oid: 3456,
        kind: SystemKind::Table,
        columns: PG_COLLATION,
    },
    SystemTable {
        name: "pg_constraint",
        oid: 2606,
        kind: SystemKind::Table,
        columns: PG_CONSTRAINT,
    },
    SystemTable {
        name: "pg_conversion",
        oid: 2607,
        kind: SystemKind::Table,
        columns: PG_CONVERSION,
    },
    SystemTable {
        name: "pg_database",
        oid: 1262,
        kind: SystemKind::Table,
        columns: PG_DATABASE,
    },
    SystemTable {
        name: "pg_depend",
        oid: 2608,
        kind: SystemKind::Table,
        columns: PG_DEPEND,
    },
    SystemTable {
        name: "pg_description",
        oid: 2609,
        kind: SystemKind::Table,
        columns: PG_DESCRIPTION,
    },
    SystemTable {
        name: "pg_enum",
        oid: 3501,
        kind: SystemKind::Table,
        columns: PG_ENUM,
    },
    SystemTable {
        name: "pg_event_trigger",
        oid: 3466,
        kind: SystemKind::Table,
        columns: PG_EVENT_TRIGGER,
    },
    SystemTable {
        name: "pg_extension",
        oid: 3079,
        kind: SystemKind::Table,
        columns: PG_EXTENSION,
    },
    SystemTable {
        name: "pg_foreign_data_wrapper",
        oid: 2328,
        kind: SystemKind::Table,
        columns: PG_FOREIGN_DATA_WRAPPER,
    },
    SystemTable {
        name: "pg_foreign_server",
        oid: 1417,
        kind: SystemKind::Table,
        columns: PG_FOREIGN_SERVER,
    },
    SystemTable {
        name: "pg_foreign_table",
        oid: 3118,
        kind: SystemKind::Table,
        columns: PG_FOREIGN_TABLE,
    },
    SystemTable {
        name: "pg_index",
        oid: 2610,
        kind: SystemKind::Table,
        columns: PG_INDEX,
    },
    SystemTable {
        name: "pg_indexes",
        oid: 12043,
        kind: SystemKind::View,
        columns: PG_INDEXES,
    },
    SystemTable {
        name: "pg_inherits",
        oid: 2611,
        kind: SystemKind::Table,
        columns: PG_INHERITS,
    },
    SystemTable {
        name: "pg_language",
        oid: 2612,
        kind: SystemKind::Table,
        columns: PG_LANGUAGE,
    },
    SystemTable {
        name: "pg_locks",
        oid: 12073,
        kind: SystemKind::View,
        columns: PG_LOCKS,
    },
    SystemTable {
        name: "pg_matviews",
        oid: 12038,
        kind: SystemKind::View,
        columns: PG_MATVIEWS,
    },
    SystemTable {
        name: "pg_namespace",
        oid: 2615,
        kind: SystemKind::Table,
        columns: PG_NAMESPACE,
    },
    SystemTable {
        name: "pg_opclass",
        oid: 2616,
        kind: SystemKind::Table,
        columns: PG_OPCLASS,
    },
    SystemTable {
        name: "pg_operator",
        oid: 2617,
        kind: SystemKind::Table,
        columns: PG_OPERATOR,
    },
    SystemTable {
        name: "pg_partitioned_table",
        oid: 3350,
        kind: SystemKind::Table,
        columns: PG_PARTITIONED_TABLE,
    },
    SystemTable {
        name: "pg_policy",
        oid: 3256,
        kind: SystemKind::Table,
        columns: PG_POLICY,
    },
    SystemTable {
        name: "pg_proc",
        oid: 1255,
        kind: SystemKind::Table,
        columns: PG_PROC,
    },
    SystemTable {
        name: "pg_publication",
        oid: 6104,
        kind: SystemKind::Table,
        columns: PG_PUBLICATION,
    },
    SystemTable {
        name: "pg_publication_namespace",
        oid: 6237,
        kind: SystemKind::Table,
        columns: PG_PUBLICATION_NAMESPACE,
    },
    SystemTable {
        name: "pg_publication_rel",
        oid: 6106,
        kind: SystemKind::Table,
        columns: PG_PUBLICATION_REL,
    },
    SystemTable {
        name: "pg_range",
        oid: 3541,
        kind: SystemKind::Table,
        columns: PG_RANGE,
    },
    SystemTable {
        name: "pg_rewrite",
        oid: 2618,
        kind: SystemKind::Table,
        columns: PG_REWRITE,
    },
    SystemTable {
        name: "pg_roles",
        oid: 12000,
        kind: SystemKind::View,
        columns: PG_ROLES,
    },
    SystemTable {
        name: "pg_sequence",
        oid: 2224,
        kind: SystemKind::Table,
        columns: PG_SEQUENCE,
    },
    SystemTable {
        name: "pg_sequences",
        oid: 12048,
        kind: SystemKind::View,
        columns: PG_SEQUENCES,
    },
    SystemTable {
        name: "pg_settings",
        oid: 12104,
        kind: SystemKind::View,
        columns: PG_SETTINGS,
    },
    SystemTable {
        name: "pg_shdescription",
        oid: 2396,
        kind: SystemKind::Table,
        columns: PG_SHDESCRIPTION,
    },
    SystemTable {
        name: "pg_stat_activity",
        oid: 12222,
        kind: SystemKind::View,
        columns: PG_STAT_ACTIVITY,
    },
    SystemTable {
        name: "pg_stat_all_tables",
        oid: 12142,
        kind: SystemKind::View,
        columns: PG_STAT_ALL_TABLES,
    },
    SystemTable {
        name: "pg_stat_user_indexes",
        oid: 12192,
        kind: SystemKind::View,
        columns: PG_STAT_USER_INDEXES,
    },
    SystemTable {
        name: "pg_stat_user_tables",
        oid: 12161,
        kind: SystemKind::View,
        columns: PG_STAT_USER_TABLES,
    },
    SystemTable {
        name: "pg_statio_user_tables",
        oid: 12179,
        kind: SystemKind::View,
        columns: PG_STATIO_USER_TABLES,
    },
    SystemTable {
        name: "pg_statistic_ext",
        oid: 3381,
        kind: SystemKind::Table,
        columns: PG_STATISTIC_EXT,
    },
    SystemTable {
        name: "pg_tables",
        oid: 12033,
        kind: SystemKind::View,
        columns: PG_TABLES,
    },
    SystemTable {
        name: "pg_tablespace",
        oid: 1213,
        kind: SystemKind::Table,
        columns: PG_TABLESPACE,
    },
    SystemTable {
        name: "pg_trigger",
        oid: 2620,
        kind: SystemKind::Table,
        columns: PG_TRIGGER,
    },
    SystemTable {
        name: "pg_type",
        oid: 1247,
        kind: SystemKind::Table,
        columns: PG_TYPE,
    },
    SystemTable {
        name: "pg_user",
        oid: 12014,
        kind: SystemKind::View,
        columns: PG_USER,
    },
    SystemTable {
        name: "pg_views",
        oid: 12028,
        kind: SystemKind::View,
        columns: PG_VIEWS,
    },
];

pub(super) const PG_AGGREGATE: &[Col] = &[
    ("aggfnoid", Text),
    ("aggkind", Text),
    ("aggnumdirectargs", Int2),
    ("aggtransfn", Text),
    ("aggfinalfn", Text),
    ("aggcombinefn", Text),
    ("aggserialfn", Text),
    ("aggdeserialfn", Text),
    ("aggmtransfn", Text),
    ("aggminvtransfn", Text),
    ("aggmfinalfn", Text),
    ("aggfinalextra", Bool),
    ("aggmfinalextra", Bool),
    ("aggfinalmodify", Text),
    ("aggmfinalmodify", Text),
    ("aggsortop", Oid),
    ("aggtranstype", Oid),
    ("aggtransspace", Int4),
    ("aggmtranstype", Oid),
    ("aggmtransspace", Int4),
    ("agginitval", Text),
    ("aggminitval", Text),
];

pub(super) const PG_AM: &[Col] = &[
    ("oid", Oid),
    ("amname", Text),
    ("amhandler", Text),
    ("amtype", Text),
];

pub(super) const PG_ATTRDEF: &[Col] = &[
    ("oid", Oid),
    ("adrelid", Oid),
    ("adnum", Int2),
    ("adbin", Text),
];

pub(super) const PG_ATTRIBUTE: &[Col] = &[
    ("attrelid", Oid),
    ("attname", Text),
    ("atttypid", Oid),
    ("attstattarget", Int4),
    ("attlen", Int2),
    ("attnum", Int2),
    ("attndims", Int4),
    ("attcacheoff", Int4),
    ("atttypmod", Int4),
    ("attbyval", Bool),
    ("attalign", Text),
    ("attstorage", Text),
    ("attcompression", Text),
    ("attnotnull", Bool),
    ("atthasdef", Bool),
    ("atthasmissing", Bool),
    ("attidentity", Text),
    ("attgenerated", Text),
    ("attisdropped", Bool),
    ("attislocal", Bool),
    ("attinhcount", Int4),
    ("attcollation", Oid),
    ("attacl", TextArray),
    ("attoptions", TextArray),
    ("attfdwoptions", TextArray),
    ("attmissingval", Text),
];

pub(super) const PG_AUTH_MEMBERS: &[Col] = &[
    ("roleid", Oid),
    ("member", Oid),
    ("grantor", Oid),
    ("admin_option", Bool),
];

pub(super) const PG_CAST: &[Col] = &[
    ("oid", Oid),
    ("castsource", Oid),
    ("casttarget", Oid),
    ("castfunc", Oid),
    ("castcontext", Text),
    ("castmethod", Text),
];

pub(super) const PG_CLASS: &[Col] = &[
    ("oid", Oid),
    ("relname", Text),
    ("relnamespace", Oid),
    ("reltype", Oid),
    ("reloftype", Oid),
    ("relowner", Oid),
    ("relam", Oid),
    ("relfilenode", Oid),
    ("reltablespace", Oid),
    ("relpages", Int4),
    ("reltuples", Float4),
    ("relallvisible", Int4),
    ("reltoastrelid", Oid),
    ("relhasindex", Bool),
    ("relisshared", Bool),
    ("relpersistence", Text),
    ("relkind", Text),
    ("relnatts", Int2),
    ("relchecks", Int2),
    ("relhasrules", Bool),
    ("relhastriggers", Bool),
    ("relhassubclass", Bool),
    ("relrowsecurity", Bool),
    ("relforcerowsecurity", Bool),
    ("relispopulated", Bool),
    ("relreplident", Text),
    ("relispartition", Bool),
    ("relrewrite", Oid),
    ("relfrozenxid", Int8),
    ("relminmxid", Int8),
    ("relacl", TextArray),
    ("reloptions", TextArray),
    ("relpartbound", Text),
];

pub(super) const PG_COLLATION: &[Col] = &[
    ("oid", Oid),
    ("collname", Text),
    ("collnamespace", Oid),
    ("collowner", Oid),
    ("collprovider", Text),
    ("collisdeterministic", Bool),
    ("collencoding", Int4),
    ("collcollate", Text),
    ("collctype", Text),
    ("colliculocale", Text),
    ("collicurules", Text),
    ("collversion", Text),
];

pub(super) const PG_CONSTRAINT: &[Col] = &[
    ("oid", Oid),
    ("conname", Text),
    ("connamespace", Oid),
    ("contype", Text),
    ("condeferrable", Bool),
    ("condeferred", Bool),
    ("convalidated", Bool),
    ("conrelid", Oid),
    ("contypid", Oid),
    ("conindid", Oid),
    ("conparentid", Oid),
    ("confrelid", Oid),
    ("confupdtype", Text),
    ("confdeltype", Text),
    ("confmatchtype", Text),
    ("conislocal", Bool),
    ("coninhcount", Int4),
    ("connoinherit", Bool),
    ("conkey", Int2Array),
    ("confkey", Int2Array),
    ("conpfeqop", OidArray),
    ("conppeqop", OidArray),
    ("conffeqop", OidArray),
    ("confdelsetcols", Int2Array),
    ("conexclop", OidArray),
    ("conbin", Text),
];

pub(super) const PG_CONVERSION: &[Col] = &[
    ("oid", Oid),
    ("conname", Text),
    ("connamespace", Oid),
    ("conowner", Oid),
    ("conforencoding", Int4),
    ("contoencoding", Int4),
    ("conproc", Text),
    ("condefault", Bool),
];

pub(super) const PG_DATABASE: &[Col] = &[
    ("oid", Oid),
    ("datname", Text),
    ("datdba", Oid),
    ("encoding", Int4),
    ("datlocprovider", Text),
    ("datistemplate", Bool),
    ("datallowconn", Bool),
    ("datconnlimit", Int4),
    ("datfrozenxid", Int8),
    ("datminmxid", Int8),
    ("dattablespace", Oid),
    ("datcollate", Text),
    ("datctype", Text),
    ("daticulocale", Text),
    ("daticurules", Text),
    ("datcollversion", Text),
    ("datacl", TextArray),
];

pub(super) const PG_DEPEND: &[Col] = &[
    ("classid", Oid),
    ("objid", Oid),
    ("objsubid", Int4),
    ("refclassid", Oid),
    ("refobjid", Oid),
    ("refobjsubid", Int4),
    ("deptype", Text),
];

pub(super) const PG_DESCRIPTION: &[Col] = &[
    ("objoid", Oid),
    ("classoid", Oid),
    ("objsubid", Int4),
    ("description", Text),
];

pub(super) const PG_ENUM: &[Col] = &[
    ("oid", Oid),
    ("enumtypid", Oid),
    ("enumsortorder", Float4),
    ("enumlabel", Text),
];

pub(super) const PG_EVENT_TRIGGER: &[Col] = &[
    ("oid", Oid),
    ("evtname", Text),
    ("evtevent", Text),
    ("evtowner", Oid),
    ("evtfoid", Oid),
    ("evtenabled", Text),
    ("evttags", TextArray),
];

pub(super) const PG_EXTENSION: &[Col] = &[
    ("oid", Oid),
    ("extname", Text),
    ("extowner", Oid),
    ("extnamespace", Oid),
    ("extrelocatable", Bool),
    ("extversion", Text),
    ("extconfig", OidArray),
    ("extcondition", TextArray),
];

pub(super) const PG_FOREIGN_DATA_WRAPPER: &[Col] = &[
    ("oid", Oid),
    ("fdwname", Text),
    ("fdwowner", Oid),
    ("fdwhandler", Oid),
    ("fdwvalidator", Oid),
    ("fdwacl", TextArray),
    ("fdwoptions", TextArray),
];

pub(super) const PG_FOREIGN_SERVER: &[Col] = &[
    ("oid", Oid),
    ("srvname", Text),
    ("srvowner", Oid),
    ("srvfdw", Oid),
    ("srvtype", Text),
    ("srvversion", Text),
    ("srvacl", TextArray),
    ("srvoptions", TextArray),
];

pub(super) const PG_FOREIGN_TABLE: &[Col] = &[
    ("ftrelid", Oid),
    ("ftserver", Oid),
    ("ftoptions", TextArray),
];

pub(super) const PG_INDEX: &[Col] = &[
    ("indexrelid", Oid),
    ("indrelid", Oid),
    ("indnatts", Int2),
    ("indnkeyatts", Int2),
    ("indisunique", Bool),
    ("indnullsnotdistinct", Bool),
    ("indisprimary", Bool),
    ("indisexclusion", Bool),
    ("indimmediate", Bool),
    ("indisclustered", Bool),
    ("indisvalid", Bool),
    ("indcheckxmin", Bool),
    ("indisready", Bool),
    ("indislive", Bool),
    ("indisreplident", Bool),
    ("indkey", Int2Array),
    ("indcollation", OidArray),
    ("indclass", OidArray),
    ("indoption", Int2Array),
    ("indexprs", Text),
    ("indpred", Text),
];

pub(super) const PG_INDEXES: &[Col] = &[
    ("schemaname", Text),
    ("tablename", Text),
    ("indexname", Text),
    ("tablespace", Text),
    ("indexdef", Text),
];

pub(super) const PG_INHERITS: &[Col] = &[
    ("inhrelid", Oid),
    ("inhparent", Oid),
    ("inhseqno", Int4),
    ("inhdetachpending", Bool),
];

pub(super) const PG_LANGUAGE: &[Col] = &[
    ("oid", Oid),
    ("lanname", Text),
    ("lanowner", Oid),
    ("lanispl", Bool),
    ("lanpltrusted", Bool),
    ("lanplcallfoid", Oid),
    ("laninline", Oid),
    ("lanvalidator", Oid),
    ("lanacl", TextArray),
];

pub(super) const PG_LOCKS: &[Col] = &[
    ("locktype", Text),
    ("database", Oid),
    ("relation", Oid),
    ("page", Int4),
    ("tuple", Int2),
    ("virtualxid", Text),
    ("transactionid", Int8),
    ("classid", Oid),
    ("objid", Oid),
    ("objsubid", Int2),
    ("virtualtransaction", Text),
    ("pid", Int4),
    ("mode", Text),
    ("granted", Bool),
    ("fastpath", Bool),
    ("waitstart", TimestampTz),
];

pub(super) const PG_MATVIEWS: &[Col] = &[
    ("schemaname", Text),
    ("matviewname", Text),
    ("matviewowner", Text),
    ("tablespace", Text),
    ("hasindexes", Bool),
    ("ispopulated", Bool),
    ("definition", Text),
];

pub(super) const PG_NAMESPACE: &[Col] = &[
    ("oid", Oid),
    ("nspname", Text),
    ("nspowner", Oid),
    ("nspacl", TextArray),
];

pub(super) const PG_OPCLASS: &[Col] = &[
    ("oid", Oid),
    ("opcmethod", Oid),
    ("opcname", Text),
    ("opcnamespace", Oid),
    ("opcowner", Oid),
    ("opcfamily", Oid),
    ("opcintype", Oid),
    ("opcdefault", Bool),
    ("opckeytype", Oid),
];

pub(super) const PG_OPERATOR: &[Col] = &[
    ("oid", Oid),
    ("oprname", Text),
    ("oprnamespace", Oid),
    ("oprowner", Oid),
    ("oprkind", Text),
    ("oprcanmerge", Bool),
    ("oprcanhash", Bool),
    ("oprleft", Oid),
    ("oprright", Oid),
    ("oprresult", Oid),
    ("oprcom", Oid),
    ("oprnegate", Oid),
    ("oprcode", Text),
    ("oprrest", Text),
    ("oprjoin", Text),
];

pub(super) const PG_PARTITIONED_TABLE: &[Col] = &[
    ("partrelid", Oid),
    ("partstrat", Text),
    ("partnatts", Int2),
    ("partdefid", Oid),
    ("partattrs", Int2Array),
    ("partclass", OidArray),
    ("partcollation", OidArray),
    ("partexprs", Text),
];

pub(super) const PG_POLICY: &[Col] = &[
    ("oid", Oid),
    ("polname", Text),
    ("polrelid", Oid),
    ("polcmd", Text),
    ("polpermissive", Bool),
    ("polroles", OidArray),
    ("polqual", Text),
    ("polwithcheck", Text),
];

pub(super) const PG_PROC: &[Col] = &[
    ("oid", Oid),
    ("proname", Text),
    ("pronamespace", Oid),
    ("proowner", Oid),
    ("prolang", Oid),
    ("procost", Float4),
    ("prorows", Float4),
    ("provariadic", Oid),
    ("prosupport", Text),
    ("prokind", Text),
    ("prosecdef", Bool),
    ("proleakproof", Bool),
    ("proisstrict", Bool),
    ("proretset", Bool),
    ("provolatile", Text),
    ("proparallel", Text),
    ("pronargs", Int2),
    ("pronargdefaults", Int2),
    ("prorettype", Oid),
    ("proargtypes", OidArray),
    ("proallargtypes", OidArray),
    ("proargmodes", TextArray),
    ("proargnames", TextArray),
    ("proargdefaults", Text),
    ("protrftypes", OidArray),
    ("prosrc", Text),
    ("probin", Text),
    ("prosqlbody", Text),
    ("proconfig", TextArray),
    ("proacl", TextArray),
];

pub(super) const PG_PUBLICATION: &[Col] = &[
    ("oid", Oid),
    ("pubname", Text),
    ("pubowner", Oid),
    ("puballtables", Bool),
    ("pubinsert", Bool),
    ("pubupdate", Bool),
    ("pubdelete", Bool),
    ("pubtruncate", Bool),
    ("pubviaroot", Bool),
];

pub(super) const PG_PUBLICATION_NAMESPACE: &[Col] =
    &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)];

pub(super) const PG_PUBLICATION_REL: &[Col] = &[
    ("oid", Oid),
    ("prpubid", Oid),
    ("prrelid", Oid),
    ("prqual", Text),
    ("prattrs", Int2Array),
];

pub(super) const PG_RANGE: &[Col] = &[
    ("rngtypid", Oid),
    ("rngsubtype", Oid),
    ("rngmultitypid", Oid),
    ("rngcollation", Oid),
    ("rngsubopc", Oid),
    ("rngcanonical", Text),
    ("rngsubdiff", Text),
];

pub(super) const PG_REWRITE: &[Col] = &[
    ("oid", Oid),
    ("rulename", Text),
    ("ev_class", Oid),
    ("ev_type", Text),
    ("ev_enabled", Text),
    ("is_instead", Bool),
    ("ev_qual", Text),
    ("ev_action", Text),
];

pub(super) const PG_ROLES: &[Col] = &[
    ("rolname", Text),
    ("rolsuper", Bool),
    ("rolinherit", Bool),
    ("rolcreaterole", Bool),
    ("rolcreatedb", Bool),
    ("rolcanlogin", Bool),
    ("rolreplication", Bool),
    ("rolconnlimit", Int4),
    ("rolpassword", Text),
    ("rolvaliduntil", TimestampTz),
    ("rolbypassrls", Bool),
    ("rolconfig", TextArray),
    ("oid", Oid),
];

pub(super) const PG_SEQUENCE: &[Col] = &[
    ("seqrelid", Oid),
    ("seqtypid", Oid),
    ("seqstart", Int8),
    ("seqincrement", Int8),
    ("seqmax", Int8),
    ("seqmin", Int8),
    ("seqcache", Int8),
    ("seqcycle", Bool),
];

pub(super) const PG_SEQUENCES: &[Col] = &[
    ("schemaname", Text),
    ("sequencename", Text),
    ("sequenceowner", Text),
    ("data_type", Oid),
    ("start_value", Int8),
    ("min_value", Int8),
    ("max_value", Int8),
    ("increment_by", Int8),
    ("cycle", Bool),
    ("cache_size", Int8),
    ("last_value", Int8),
];

pub(super) const PG_SETTINGS: &[Col] = &[
    ("name", Text),
    ("setting", Text),
    ("unit", Text),
    ("category", Text),
    ("short_desc", Text),
    ("extra_desc", Text),
    ("context", Text),
    ("vartype", Text),
    ("source", Text),
    ("min_val", Text),
    ("max_val", Text),
    ("enumvals", TextArray),
    ("boot_val", Text),
    ("reset_val", Text),
    ("sourcefile", Text),
    ("sourceline", Int4),
    ("pending_restart", Bool),
];

pub(super) const PG_SHDESCRIPTION: &[Col] =
    &[("objoid", Oid), ("classoid", Oid), ("description", Text)];

pub(super) const PG_STAT_ACTIVITY: &[Col] = &[
    ("datid", Oid),
    ("datname", Text),
    ("pid", Int4),
    ("leader_pid", Int4),
    ("usesysid", Oid),
    ("usename", Text),
    ("application_name", Text),
    ("client_addr", Text),
    ("client_hostname", Text),
    ("client_port", Int4),
    ("backend_start", TimestampTz),
    ("xact_start", TimestampTz),
    ("query_start", TimestampTz),
    ("state_change", TimestampTz),
    ("wait_event_type", Text),
    ("wait_event", Text),
    ("state", Text),
    ("backend_xid", Int8),
    ("backend_xmin", Int8),
    ("query_id", Int8),
    ("query", Text),
    ("backend_type", Text),
];

pub(super) const PG_STAT_ALL_TABLES: &[Col] = &[
    ("relid", Oid),
    ("schemaname", Text),
    ("relname", Text),
    ("seq_scan", Int8),
    ("seq_tup_read", Int8),
    ("idx_scan", Int8),
    ("idx_tup_fetch", Int8),
    ("n_tup_ins", Int8),
    ("n_tup_upd", Int8),
    ("n_tup_del", Int8),
    ("n_tup_hot_upd", Int8),
    ("n_live_tup", Int8),
    ("n_dead_tup", Int8),
    ("n_mod_since_analyze", Int8),
    ("n_ins_since_vacuum", Int8),
    ("last_vacuum", TimestampTz),
    ("last_autovacuum", TimestampTz),
    ("last_analyze", TimestampTz),
    ("last_autoanalyze", TimestampTz),
    ("vacuum_count", Int8),
    ("autovacuum_count", Int8),
    ("analyze_count", Int8),
    ("autoanalyze_count", Int8),
];

pub(super) const PG_STAT_USER_INDEXES: &[Col] = &[
    ("relid", Oid),
    ("indexrelid", Oid),
    ("schemaname", Text),
    ("relname", Text),
    ("indexrelname", Text),
    ("idx_scan", Int8),
    ("idx_tup_read", Int8),
    ("idx_tup_fetch", Int8),
];

pub(super) const PG_STAT_USER_TABLES: &[Col] = &[
    ("relid", Oid),
    ("schemaname", Text),
    ("relname", Text),
    ("seq_scan", Int8),
    ("seq_tup_read", Int8),
    ("last_seq_scan", TimestampTz),
    ("idx_scan", Int8),
    ("last_idx_scan", TimestampTz),
    ("idx_tup_fetch", Int8),
    ("n_tup_ins", Int8),
    ("n_tup_upd", Int8),
    ("n_tup_del", Int8),
    ("n_tup_hot_upd", Int8),
    ("n_tup_newpage_upd", Int8),
    ("n_live_tup", Int8),
    ("n_dead_tup", Int8),
    ("n_mod_since_analyze", Int8),
    ("n_ins_since_vacuum", Int8),
    ("last_vacuum", TimestampTz),
    ("last_autovacuum", TimestampTz),
    ("last_analyze", TimestampTz),
    ("last_autoanalyze", TimestampTz),
    ("vacuum_count", Int8),
    ("autovacuum_count", Int8),
    ("analyze_count", Int8),
    ("autoanalyze_count", Int8),
];

pub(super) const PG_STATIO_USER_TABLES: &[Col] = &[
    ("relid", Oid),
    ("schemaname", Text),
    ("relname", Text),
    ("heap_blks_read", Int8),
    ("heap_blks_hit", Int8),
    ("idx_blks_read", Int8),
    ("idx_blks_hit", Int8),
    ("toast_blks_read", Int8),
    ("toast_blks_hit", Int8),
    ("tidx_blks_read", Int8),
    ("tidx_blks_hit", Int8),
];

pub(super) const PG_STATISTIC_EXT: &[Col] = &[
    ("oid", Oid),
    ("stxrelid", Oid),
    ("stxname", Text),
    ("stxnamespace", Oid),
    ("stxowner", Oid),
    ("stxstattarget", Int4),
    ("stxkeys", Int2Array),
    ("stxkind", TextArray),
    ("stxexprs", Text),
];

pub(super) const PG_TABLES: &[Col] = &[
    ("schemaname", Text),
    ("tablename", Text),
    ("tableowner", Text),
    ("tablespace", Text),
    ("hasindexes", Bool),
    ("hasrules", Bool),
    ("hastriggers", Bool),
    ("rowsecurity", Bool),
];

pub(super) const PG_TABLESPACE: &[Col] = &[
    ("oid", Oid),
    ("spcname", Text),
    ("spcowner", Oid),
    ("spcacl", TextArray),
    ("spcoptions", TextArray),
];

pub(super) const PG_TRIGGER: &[Col] = &[
    ("oid", Oid),
    ("tgrelid", Oid),
    ("tgparentid", Oid),
    ("tgname", Text),
    ("tgfoid", Oid),
    ("tgtype", Int2),
    ("tgenabled", Text),
    ("tgisinternal", Bool),
    ("tgconstrrelid", Oid),
    ("tgconstrindid", Oid),
    ("tgconstraint", Oid),
    ("tgdeferrable", Bool),
    ("tginitdeferred", Bool),
    ("tgnargs", Int2),
    ("tgattr", Int2Array),
    ("tgargs", Text),
    ("tgqual", Text),
    ("tgoldtable", Text),
    ("tgnewtable", Text),
];

pub(super) const PG_TYPE: &[Col] = &[
    ("oid", Oid),
    ("typname", Text),
    ("typnamespace", Oid),
    ("typowner", Oid),
    ("typlen", Int2),
    ("typbyval", Bool),
    ("typtype", Text),
    ("typcategory", Text),
    ("typispreferred", Bool),
    ("typisdefined", Bool),
    ("typdelim", Text),
    ("typrelid", Oid),
    ("typsubscript", Text),
    ("typelem", Oid),
    ("typarray", Oid),
    ("typinput", Text),
    ("typoutput", Text),
    ("typreceive", Text),
    ("typsend", Text),
    ("typmodin", Text),
    ("typmodout", Text),
    ("typanalyze", Text),
    ("typalign", Text),
    ("typstorage", Text),
    ("typnotnull", Bool),
    ("typbasetype", Oid),
    ("typtypmod", Int4),
    ("typndims", Int4),
    ("typcollation", Oid),
    ("typdefaultbin", Text),
    ("typdefault", Text),
    ("typacl", TextArray),
];

pub(super) const PG_USER: &[Col] = &[
    ("usename", Text),
    ("usesysid", Oid),
    ("usecreatedb", Bool),
    ("usesuper", Bool),
    ("userepl", Bool),
    ("usebypassrls", Bool),
    ("passwd", Text),
    ("valuntil", TimestampTz),
    ("useconfig", TextArray),
];

pub(super) const PG_VIEWS: &[Col] = &[
    ("schemaname", Text),
    ("viewname", Text),
    ("viewowner", Text),
    ("definition", Text),
];
