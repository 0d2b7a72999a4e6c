/** A private PostgreSQL cluster per test suite, with password-authenticated roles (see @sluice/pg-wire/testing). */
export {
  type ClusterRole,
  findPgBinDir,
  type HbaMethod,
  type PrivateCluster,
  type PrivateClusterOptions,
  startPrivateCluster,
} from "@sluice/pg-wire/testing";
