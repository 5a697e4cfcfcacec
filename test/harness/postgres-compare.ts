/**
 * PostgreSQL content fingerprints for "the restore equals the source": every table's rows (count and
 * a digest of every row's text form, order-independent), and every object definition that a dump
 * must carry (schemas, columns, constraints, indexes, views, functions, triggers, sequences and their
 * positions, large objects with their bytes, owners and privileges). Cluster-level: roles with their
 * password hashes and memberships, databases with owner, encoding, collation and privileges.
 */
import type { Postgres } from '../support/servers';

/** Databases a backup covers: those that allow connections, except templates. */
export async function pgDatabases(pg: Postgres): Promise<string[]> {
  const out = await pg.psql("select datname from pg_database where datallowconn and not datistemplate order by datname");
  return out.split('\n').filter(Boolean);
}

const USER_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'";

/** An ACL as sorted text: its item order depends on the order the grants were made in. */
const acl = (col: string) => `coalesce((select string_agg(a::text, ',' order by a::text) from unnest(${col}) a), '-')`;

const CATALOG_SQL = `
select 'schema ' || n.nspname || ' owner ' || pg_get_userbyid(n.nspowner) || ' acl ' || ${acl('n.nspacl')}
  from pg_namespace n where ${USER_SCHEMAS}
union all
select 'relation ' || n.nspname || '.' || c.relname || ' kind ' || c.relkind::text || ' owner ' || pg_get_userbyid(c.relowner)
       || ' acl ' || ${acl('c.relacl')} || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where ${USER_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
union all
select 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull ' || a.attnotnull || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
  from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where ${USER_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped
union all
select 'constraint ' || n.nspname || '.' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
  from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
 where ${USER_SCHEMAS}
union all
select 'index ' || schemaname || '.' || indexname || ' ' || indexdef
  from pg_indexes where schemaname not in ('pg_catalog', 'information_schema')
union all
select 'view ' || schemaname || '.' || viewname || ' ' || definition
  from pg_views where schemaname not in ('pg_catalog', 'information_schema')
union all
select 'function ' || n.nspname || '.' || p.proname || ' owner ' || pg_get_userbyid(p.proowner) || ' ' || pg_get_functiondef(p.oid)
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace where ${USER_SCHEMAS} and p.prokind in ('f', 'p')
union all
select 'trigger ' || t.tgname || ' enabled ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid)
  from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
 where ${USER_SCHEMAS} and not t.tgisinternal
union all
select 'sequence ' || schemaname || '.' || sequencename || ' start ' || start_value || ' increment ' || increment_by
       || ' last ' || coalesce(last_value::text, 'unset')
  from pg_sequences
union all
select 'large-object ' || m.oid || ' owner ' || pg_get_userbyid(m.lomowner) || ' acl ' || ${acl('m.lomacl')}
       || ' md5 ' || md5(lo_get(m.oid)) || ' bytes ' || length(lo_get(m.oid))
  from pg_largeobject_metadata m
union all
select 'extension ' || extname || ' ' || extversion from pg_extension
order by 1`;

/** Every user table with its row count and a digest of all rows, plus the catalog lines above. */
export async function pgDatabaseFingerprint(pg: Postgres, db: string): Promise<Record<string, string>> {
  const fp: Record<string, string> = {};
  for (const line of (await pg.psql(CATALOG_SQL, { db })).split('\n').filter(Boolean)) fp[line] = 'present';
  const tables = (
    await pg.psql(
      `select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${USER_SCHEMAS} and c.relkind in ('r', 'p') order by 1`,
      { db },
    )
  ).split('\n').filter(Boolean);
  for (const t of tables) {
    // md5 of each row's text form, sorted: independent of physical order, sensitive to every value.
    fp[`rows ${t}`] = await pg.psql(`select count(*) || ' ' || coalesce(md5(string_agg(md5(x::text), '' order by md5(x::text))), '-') from ${t} x`, { db });
  }
  return fp;
}

/** Roles (attributes, password hash, memberships) and databases. */
export async function pgClusterFingerprint(pg: Postgres): Promise<string[]> {
  const out = await pg.psql(`
    select 'role ' || rolname || ' super ' || rolsuper || ' inherit ' || rolinherit || ' createrole ' || rolcreaterole
           || ' createdb ' || rolcreatedb || ' login ' || rolcanlogin || ' replication ' || rolreplication
           || ' bypassrls ' || rolbypassrls || ' connlimit ' || rolconnlimit || ' password ' || coalesce(rolpassword, '-')
      from pg_authid where rolname !~ '^pg_'
    union all
    select 'member ' || r.rolname || ' of ' || g.rolname || ' admin ' || m.admin_option
      from pg_auth_members m join pg_roles r on r.oid = m.member join pg_roles g on g.oid = m.roleid
     where r.rolname !~ '^pg_'
    union all
    select 'database ' || datname || ' owner ' || pg_get_userbyid(datdba) || ' encoding ' || pg_encoding_to_char(encoding)
           || ' collate ' || datcollate || ' ctype ' || datctype || ' acl ' || ${acl('datacl')}
      from pg_database where not datistemplate
    order by 1`);
  return out.split('\n').filter(Boolean);
}
