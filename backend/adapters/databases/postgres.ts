import postgres from "postgres";
import { postgresNames, quoteIdent, quoteLiteral, roleComment } from "../../commands/databases.ts";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { DatabaseEngine, EngineTarget } from "./engine.ts";

/** How many connections one app database's role may hold: two slots of an app during a switch, and a few apps. */
export const ROLE_CONNECTION_LIMIT = 50;

const HOW_TO_ENABLE =
  "PostgreSQL provisioning needs a role that may create databases and roles: set SWITCHYARD_DATABASE_ADMIN_URL " +
  "(for example postgres://switchyard_admin:…@127.0.0.1:5432/postgres; on a server, `install.sh --with-postgres` sets it up), " +
  "or run the panel on PostgreSQL with DATABASE_URL as such a role.";

/** The admin URL the panel provisions with: SWITCHYARD_DATABASE_ADMIN_URL, else the panel's own DATABASE_URL. */
export function adminUrlOf(config: Pick<Config, "databases" | "databaseUrl">): string | null {
  return config.databases.adminUrl ?? config.databaseUrl ?? null;
}

type Sql = ReturnType<typeof postgres>;

/**
 * One database and one role of its own per app database, on the server the admin URL names. The
 * role may connect to its database only (CONNECT is revoked from PUBLIC), owns it, and has no
 * other rights.
 */
export class PostgresEngine implements DatabaseEngine {
  readonly engine = "postgres" as const;
  private sql: Sql | null = null;
  private readonly adminUrl: string | null;

  constructor(services: { config: Pick<Config, "databases" | "databaseUrl">; log: Logger }) {
    this.adminUrl = adminUrlOf(services.config);
  }

  private admin(): Sql {
    if (!this.adminUrl) throw new Error(HOW_TO_ENABLE);
    this.sql ??= postgres(this.adminUrl, { max: 2, idle_timeout: 20, connect_timeout: 10, onnotice: () => {}, prepare: false });
    return this.sql;
  }

  /** Where apps reach the server: the admin URL's host and port. */
  private server(): { host: string; port: number } {
    const url = new URL(this.adminUrl ?? "postgres://127.0.0.1:5432/");
    return { host: url.hostname || "127.0.0.1", port: Number(url.port || 5432) };
  }

  async availability(): Promise<{ available: boolean; reason: string | null }> {
    if (!this.adminUrl) return { available: false, reason: HOW_TO_ENABLE };
    try {
      const [me] = await this.admin()<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }[]>`
        select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user`;
      if (me && (me.rolsuper || (me.rolcreatedb && me.rolcreaterole))) return { available: true, reason: null };
      return { available: false, reason: `The admin role may not create databases and roles. ${HOW_TO_ENABLE}` };
    } catch (error) {
      return { available: false, reason: `The PostgreSQL admin connection failed: ${(error as Error).message}. ${HOW_TO_ENABLE}` };
    }
  }

  async provision(name: string, password: string, log: (line: string) => void): Promise<Record<string, unknown>> {
    const { role, database } = postgresNames(name);
    const sql = this.admin();
    const [existing] = await sql<{ comment: string | null }[]>`
      select shobj_description(oid, 'pg_authid') as comment from pg_roles where rolname = ${role}`;
    if (existing && existing.comment !== roleComment(name)) {
      throw new Error(`A role ${role} already exists on this server and was not made by Switchyard; pick another name`);
    }
    const login = `LOGIN CONNECTION LIMIT ${ROLE_CONNECTION_LIMIT} PASSWORD ${quoteLiteral(password)}`;
    if (existing) {
      // Only what a non-superuser admin may change: the role was made without any other right.
      log(`role ${role} exists (an earlier provision): setting its password`);
      await sql.unsafe(`ALTER ROLE ${quoteIdent(role)} ${login}`);
    } else {
      log(`creating role ${role}`);
      await sql.unsafe(`CREATE ROLE ${quoteIdent(role)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ${login}`);
      await sql.unsafe(`COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(roleComment(name))}`);
    }
    const [db] = await sql<{ owner: string }[]>`
      select pg_get_userbyid(datdba) as owner from pg_database where datname = ${database}`;
    if (!db) {
      log(`creating database ${database} owned by ${role}`);
      // CREATE DATABASE … OWNER needs membership in the role for a non-superuser admin.
      await this.grantToAdmin(role);
      await sql.unsafe(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(role)} ENCODING 'UTF8' TEMPLATE template0`);
    } else if (db.owner !== role) {
      throw new Error(`A database ${database} already exists on this server, owned by ${db.owner}; pick another name`);
    } else {
      log(`database ${database} exists (an earlier provision)`);
    }
    await sql.unsafe(`REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM PUBLIC`);
    await sql.unsafe(`GRANT ALL ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`);
    log(`connections to ${database} are allowed to ${role} only (at most ${ROLE_CONNECTION_LIMIT})`);
    return { ...this.server(), database, role };
  }

  /** A CREATEROLE admin that is not superuser must be a member of a role to hand it a database. */
  private async grantToAdmin(role: string): Promise<void> {
    const sql = this.admin();
    const [me] = await sql<{ rolsuper: boolean }[]>`select rolsuper from pg_roles where rolname = current_user`;
    if (me?.rolsuper) return;
    await sql.unsafe(`GRANT ${quoteIdent(role)} TO CURRENT_USER`);
  }

  private target(t: EngineTarget): { host: string; port: number; database: string; role: string } {
    const names = postgresNames(t.name);
    const server = this.server();
    return {
      host: typeof t.config.host === "string" ? t.config.host : server.host,
      port: typeof t.config.port === "number" ? t.config.port : server.port,
      database: typeof t.config.database === "string" ? t.config.database : names.database,
      role: typeof t.config.role === "string" ? t.config.role : names.role,
    };
  }

  url(t: EngineTarget): string {
    const { host, port, database, role } = this.target(t);
    const hostPart = host.includes(":") ? `[${host}]` : host;
    return `postgres://${encodeURIComponent(role)}:${encodeURIComponent(t.password)}@${hostPart}:${port}/${encodeURIComponent(database)}`;
  }

  cli(t: EngineTarget): string {
    return `psql '${this.url(t)}'`;
  }

  async stats(t: EngineTarget): Promise<{ sizeBytes: number; connections: number }> {
    const { database } = this.target(t);
    const [row] = await this.admin()<{ size: string | null; connections: string }[]>`
      select (select pg_database_size(datname) from pg_database where datname = ${database}) as size,
             (select count(*) from pg_stat_activity where datname = ${database}) as connections`;
    return { sizeBytes: Number(row?.size ?? 0), connections: Number(row?.connections ?? 0) };
  }

  /** Takes effect for new connections at once; open ones keep working until they reconnect. */
  async rotatePassword(t: EngineTarget, next: string): Promise<void> {
    const { role } = this.target(t);
    await this.admin().unsafe(`ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(next)}`);
  }

  async finishRotation(): Promise<void> {}

  async drop(t: EngineTarget): Promise<void> {
    const { database, role } = this.target(t);
    const sql = this.admin();
    // No new sessions, then end the open ones: nothing can reconnect between the two.
    const [db] = await sql`select 1 from pg_database where datname = ${database}`;
    if (db) {
      await sql.unsafe(`ALTER DATABASE ${quoteIdent(database)} CONNECTION LIMIT 0`);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`;
      await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    }
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role} and pid <> pg_backend_pid()`;
    await sql.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  }

  async ensureRunning(): Promise<void> {}

  async ping(t: EngineTarget): Promise<void> {
    const client = postgres(this.url(t), { max: 1, connect_timeout: 10, onnotice: () => {}, prepare: false });
    try {
      const [row] = await client<{ db: string; me: string }[]>`select current_database() as db, current_user as me`;
      const { database, role } = this.target(t);
      if (row?.db !== database || row?.me !== role)
        throw new Error(`connected as ${row?.me} to ${row?.db}, expected ${role} to ${database}`);
    } finally {
      await client.end({ timeout: 5 });
    }
  }

  async close(): Promise<void> {
    const sql = this.sql;
    this.sql = null;
    await sql?.end({ timeout: 5 });
  }
}
