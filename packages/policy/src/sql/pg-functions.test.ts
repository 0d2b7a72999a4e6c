import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  BUILTIN_OPERATORS,
  BUILTIN_TYPES,
  isReadOnlyFunction,
  READ_ONLY_FUNCTIONS,
  VOLATILE_READ_ONLY_FUNCTIONS,
} from "./pg-functions";

/** Runs a query on the real PostgreSQL and returns its rows as `|`-separated lines. */
function query(sql: string): string[] {
  const res = spawnSync(
    "psql",
    ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-f", "-"],
    {
      input: sql,
      encoding: "utf8",
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (res.status !== 0) throw new Error(`psql failed: ${res.stderr}`);
  return res.stdout.split("\n").filter((l) => l.length > 0);
}

const asValues = (names: Iterable<string>) => [...names].map((n) => `('${n.replace(/'/g, "''")}')`).join(",");

/** Functions that write, lock, signal or change server state: none may be on the allow-list. */
const WRITERS = [
  "nextval",
  "setval",
  "set_config",
  "pg_notify",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_switch_wal",
  "pg_create_restore_point",
  "pg_backup_start",
  "pg_backup_stop",
  "pg_promote",
  "pg_advisory_lock",
  "pg_advisory_xact_lock",
  "pg_try_advisory_lock",
  "pg_advisory_unlock_all",
  "lo_create",
  "lo_creat",
  "lo_unlink",
  "lo_put",
  "lo_import",
  "lo_export",
  "lo_from_bytea",
  "lo_open",
  "lowrite",
  "lo_truncate",
  "pg_replication_origin_create",
  "pg_replication_origin_drop",
  "pg_replication_origin_session_setup",
  "pg_import_system_collations",
  "pg_stat_reset",
  "pg_stat_reset_shared",
  "pg_stat_reset_single_table_counters",
  "pg_stat_reset_slru",
  "txid_current",
  "pg_current_xact_id",
  "pg_logical_emit_message",
  "pg_create_logical_replication_slot",
  "pg_drop_replication_slot",
  "pg_read_file",
  "pg_read_binary_file",
  "pg_ls_dir",
  "pg_ls_waldir",
  "pg_stat_file",
  "query_to_xml",
  "cursor_to_xml",
  "table_to_xml",
  "schema_to_xml",
  "database_to_xml",
  "ts_stat",
  "ts_rewrite",
  "pg_sleep",
  "setseed",
  "pg_export_snapshot",
  "pg_log_backend_memory_contexts",
  "pg_wal_replay_pause",
  "pg_stat_clear_snapshot",
  "brin_summarize_range",
  "gin_clean_pending_list",
];

describe("read-only function allow-list, against the real PostgreSQL catalog", () => {
  it("lists only functions of pg_catalog, volatile ones only when known to only read", () => {
    const rows = query(`
      SELECT n.name, count(p.oid), coalesce(bool_or(p.provolatile = 'v'), false)
      FROM (VALUES ${asValues(READ_ONLY_FUNCTIONS)}) AS n(name)
      LEFT JOIN pg_proc p ON p.proname = n.name AND p.pronamespace = 'pg_catalog'::regnamespace
      GROUP BY n.name`);
    expect(rows.length).toBe(READ_ONLY_FUNCTIONS.size);
    const missing = rows.filter((r) => r.split("|")[1] === "0").map((r) => r.split("|")[0]);
    expect(missing).toEqual([]);
    const volatile = rows.filter((r) => r.endsWith("|t")).map((r) => r.split("|")[0] as string);
    expect(volatile.filter((f) => !VOLATILE_READ_ONLY_FUNCTIONS.has(f))).toEqual([]);
    expect(volatile.length).toBe(VOLATILE_READ_ONLY_FUNCTIONS.size);
  });

  it("never lists a function that writes or changes server state", () => {
    expect(WRITERS.filter((f) => isReadOnlyFunction([f]) || isReadOnlyFunction(["pg_catalog", f]))).toEqual(
      [],
    );
    const known = query(
      `SELECT DISTINCT proname FROM pg_proc WHERE proname IN (${WRITERS.map((w) => `'${w}'`).join(",")})`,
    );
    // The writers list names real functions, so the check above is not vacuous.
    expect(known.length).toBeGreaterThan(WRITERS.length - 5);
  });

  it("knows every built-in operator symbol and type name it lists", () => {
    const ops = query(
      `SELECT count(*) FROM (VALUES ${asValues(BUILTIN_OPERATORS)}) v(o)
       WHERE NOT EXISTS (SELECT 1 FROM pg_operator WHERE oprname = v.o AND oprnamespace = 'pg_catalog'::regnamespace)`,
    );
    expect(ops).toEqual(["0"]);
    const types = query(
      `SELECT count(*) FROM (VALUES ${asValues(BUILTIN_TYPES)}) v(t)
       WHERE NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = v.t AND typnamespace = 'pg_catalog'::regnamespace)`,
    );
    expect(types).toEqual(["0"]);
  });

  it("treats a schema-qualified name outside pg_catalog as unknown", () => {
    expect(isReadOnlyFunction(["lower"])).toBe(true);
    expect(isReadOnlyFunction(["pg_catalog", "lower"])).toBe(true);
    expect(isReadOnlyFunction(["public", "lower"])).toBe(false);
    expect(isReadOnlyFunction(["my_function"])).toBe(false);
  });
});
