import { BUILTIN_TYPE_NAMES, STABLE_FUNCTION_NAMES } from "./pg-catalog-names";

/**
 * What Sluice knows about PostgreSQL functions, operators and types: which built-ins only
 * read (an allow-list: anything else, user-defined functions included, is not read-only),
 * which execute SQL text Sluice cannot see, and which reach outside the database.
 */

function words(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter((w) => w.length > 0));
}

/**
 * VOLATILE built-ins that still only read (or only compute): they are volatile because their
 * result changes from call to call, not because they change anything.
 */
export const VOLATILE_READ_ONLY_FUNCTIONS = words(`
clock_timestamp timeofday random gen_random_uuid currval lastval current_query
pg_blocking_pids pg_safe_snapshot_blocking_pids pg_lock_status pg_prepared_xact
pg_database_size pg_indexes_size pg_relation_size pg_table_size pg_tablespace_size
pg_total_relation_size pg_partition_ancestors pg_partition_tree pg_sequence_last_value
pg_is_in_recovery pg_jit_available pg_is_wal_replay_paused pg_get_wal_replay_pause_state
pg_current_wal_lsn pg_current_wal_flush_lsn pg_current_wal_insert_lsn
pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_last_xact_replay_timestamp
pg_notification_queue_usage pg_xact_status txid_status pg_xact_commit_timestamp
pg_xact_commit_timestamp_origin pg_last_committed_xact pg_stat_have_stats
pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls
pg_stat_get_xact_function_self_time pg_stat_get_xact_function_total_time
pg_stat_get_xact_numscans pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched
pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted
pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated
pg_control_checkpoint pg_control_init pg_control_recovery pg_control_system
pg_get_backend_memory_contexts pg_get_shmem_allocations pg_get_multixact_members
pg_collation_actual_version pg_database_collation_actual_version
`);

/** Built-in functions that only read or compute: the read-only lane's allow-list. */
export const READ_ONLY_FUNCTIONS = new Set([
  ...words(STABLE_FUNCTION_NAMES),
  ...VOLATILE_READ_ONLY_FUNCTIONS,
]);

/**
 * Functions that reach outside the database: other servers, the server's files and
 * programs, large-object import/export. Refused on every guarded connection.
 */
export const OUTSIDE_FUNCTIONS = words(`
dblink dblink_exec dblink_connect dblink_connect_u dblink_open dblink_fetch dblink_close
dblink_send_query dblink_get_result dblink_get_connections dblink_disconnect dblink_cancel_query
dblink_is_busy dblink_error_message dblink_get_notify dblink_build_sql_insert
dblink_build_sql_update dblink_build_sql_delete dblink_get_pkey
pg_read_file pg_read_file_old pg_read_binary_file pg_stat_file pg_ls_dir pg_ls_logdir
pg_ls_waldir pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalmapdir pg_ls_logicalsnapdir
pg_ls_replslotdir pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls
lo_import lo_export pg_hba_file_rules pg_ident_file_mappings pg_show_all_file_settings
`);

/**
 * Functions whose first argument is SQL text they execute. With a string literal it is
 * classified like any statement; with anything else the statement is opaque.
 */
export const SQL_TEXT_FUNCTIONS = words(`
query_to_xml query_to_xmlschema query_to_xml_and_xmlschema ts_stat
`);

/** Functions that read a table (or a whole schema) named by their first argument. */
export const TABLE_NAME_FUNCTIONS = words(`
table_to_xml table_to_xmlschema table_to_xml_and_xmlschema
`);
export const SCHEMA_NAME_FUNCTIONS = words(`
schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema
`);

/** Functions whose effect Sluice cannot see at all (they read every table, or an open cursor). */
export const OPAQUE_FUNCTIONS = words(`
database_to_xml database_to_xmlschema database_to_xml_and_xmlschema cursor_to_xml
cursor_to_xmlschema ts_rewrite
`);

/** Operator symbols of `pg_catalog` (PostgreSQL 15). */
export const BUILTIN_OPERATORS = words(`
!! !~ !~* !~~ !~~* # ## #- #> #>> % & && &< &<| &> * *< *<= *<> *= *> *>= + - -> ->> -|- / < <->
<< <<= <<| <= <> <@ <^ = > >= >> >>= >^ ? ?# ?& ?- ?-| ?| ?|| @ @-@ @> @? @@ @@@ ^ ^@ | |&>
|/ |>> || ||/ ~ ~* ~<=~ ~<~ ~= ~>=~ ~>~ ~~ ~~*
`);

export const BUILTIN_TYPES = words(BUILTIN_TYPE_NAMES);

/**
 * Settings that change how the server reads later statement text (string escapes, the
 * bytes of the client encoding). Sluice reads the text with their defaults, so changing
 * them would let the server see different statements than Sluice checked.
 */
export const PARSE_STATE_SETTINGS = new Set([
  "standard_conforming_strings",
  "backslash_quote",
  "client_encoding",
]);

/** A qualified or bare name of a built-in object: bare, or in `pg_catalog`. */
function builtinName(names: string[], known: Set<string>): boolean {
  const name = names[names.length - 1];
  if (name === undefined || names.length > 2) return false;
  if (names.length === 2 && names[0] !== "pg_catalog") return false;
  return known.has(name);
}

export function isReadOnlyFunction(names: string[]): boolean {
  return builtinName(names, READ_ONLY_FUNCTIONS);
}

export function isBuiltinOperator(names: string[]): boolean {
  return builtinName(names, BUILTIN_OPERATORS);
}

export function isBuiltinType(names: string[]): boolean {
  return builtinName(names, BUILTIN_TYPES);
}
