"""Actors: accounts grouped by the person or organisation behind them (T9, DOMAIN §2.2).

Accounts are linked when they share a holder ID, when one's legal representative or agent is another's holder
(or the same person represents several), a phone, or a device or IP seen in their transactions. Connected
components are found in SQL (label propagation), so the parties table never comes into Python. An attribute
shared by very many accounts (a branch terminal, a public IP) links nothing. `actor_id` is the md5 of the
component's smallest key, so it stays the same across rebuilds while the people stay the same.

The linking values of each account are kept in `account_keys`. An update recomputes only the accounts whose
lines arrived, every account sharing a value they had or have, and the whole actors those belong to: no other
actor can change. The caller holds the transaction (pipelines.warehouse.prepare).
"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.db import scalar

MAX_ACCOUNTS_PER_KEY = 20
"""An attribute value shared by more accounts than this (a bank's terminal, a public IP) links nothing."""

# key: the value that links accounts, prefixed by how lasting it is (IDs before phones, devices, IPs, and the
# account itself last) so the smallest key of an actor, hashed into its id, is its most lasting one.
# reason: what the link says. IDs share one key space, so a company's legal representative links the company
# to that person's own accounts.
# {only}: an extra condition limiting the accounts, or nothing.
_KEYS_SQL = """
    SELECT DISTINCT account_no, key, reason FROM (
        SELECT account_no, '1id:' || upper(holder_id_no) AS key, 'holder_id' AS reason
            FROM parties WHERE nullif(trim(holder_id_no), '') IS NOT NULL {only}
        UNION ALL SELECT account_no, '1id:' || upper(legal_rep_id_no), 'legal_rep'
            FROM parties WHERE nullif(trim(legal_rep_id_no), '') IS NOT NULL {only}
        UNION ALL SELECT account_no, '1id:' || upper(agent_id_no), 'agent'
            FROM parties WHERE nullif(trim(agent_id_no), '') IS NOT NULL {only}
        UNION ALL SELECT account_no, '2phone:' || holder_phone, 'phone'
            FROM parties WHERE nullif(trim(holder_phone), '') IS NOT NULL {only}
        UNION ALL SELECT DISTINCT account_no, '3device:' || device_code, 'device'
            FROM txn WHERE nullif(trim(device_code), '') IS NOT NULL {only}
        UNION ALL SELECT DISTINCT account_no, '4ip:' || ip_address, 'ip'
            FROM txn WHERE nullif(trim(ip_address), '') IS NOT NULL {only})
"""


def resolve_actors(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild `account_keys`, `actors` and `actor_accounts` from `parties` and `txn`; returns the number of actors."""
    con.execute("DELETE FROM account_keys")
    con.execute("INSERT INTO account_keys " + _KEYS_SQL.format(only=""))
    con.execute("CREATE OR REPLACE TEMP TABLE actor_scope AS SELECT account_no FROM parties")
    _resolve_scope(con)
    return int(scalar(con, "SELECT count(*) FROM actors"))


def update_actors(con: duckdb.DuckDBPyConnection) -> int:
    """Bring actors up to date for the accounts of the lines in temp table `touched_lines` (parties already
    updated); returns how many accounts were grouped again."""
    touched = "AND account_no IN (SELECT account_no FROM touched_lines)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE actor_changed_keys AS
            SELECT key FROM account_keys WHERE account_no IN (SELECT account_no FROM touched_lines);
        DELETE FROM account_keys WHERE account_no IN (SELECT account_no FROM touched_lines);
        INSERT INTO account_keys {_KEYS_SQL.format(only=touched)};
        INSERT INTO actor_changed_keys
            SELECT key FROM account_keys WHERE account_no IN (SELECT account_no FROM touched_lines);
        -- the touched accounts, every account sharing a value they had or have, and all of their actors
        CREATE OR REPLACE TEMP TABLE actor_seed AS
            SELECT account_no FROM touched_lines
            UNION SELECT account_no FROM account_keys WHERE key IN (SELECT key FROM actor_changed_keys);
        CREATE OR REPLACE TEMP TABLE actor_scope AS
            SELECT account_no FROM actor_seed
            UNION SELECT account_no FROM actor_accounts WHERE actor_id IN (
                SELECT actor_id FROM actor_accounts WHERE account_no IN (SELECT account_no FROM actor_seed));
        DROP TABLE actor_seed;
        DROP TABLE actor_changed_keys;
    """)
    regrouped = int(scalar(con, "SELECT count(*) FROM actor_scope"))
    _resolve_scope(con)
    return regrouped


def _resolve_scope(con: duckdb.DuckDBPyConnection) -> None:
    """Regroup the accounts in temp table `actor_scope`, which holds whole actors and everything linked to them."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE actor_keys AS
        WITH raw AS (SELECT * FROM account_keys WHERE account_no IN (SELECT account_no FROM actor_scope)),
        -- how common a value is counts every account that has it, inside the scope or not
        common AS (SELECT key FROM account_keys WHERE key IN (SELECT key FROM raw)
                   GROUP BY key HAVING count(DISTINCT account_no) > {MAX_ACCOUNTS_PER_KEY})
        SELECT * FROM raw WHERE key NOT IN (SELECT key FROM common)
        UNION ALL
        -- every account is its own actor until a key links it to another
        SELECT account_no, '9account:' || account_no, 'account' FROM parties
        WHERE account_no IN (SELECT account_no FROM actor_scope)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE actor_label AS
        SELECT account_no, min(key) AS label FROM actor_keys GROUP BY account_no
    """)
    while True:
        # One step: every key takes the smallest label of its accounts, every account the smallest of its keys.
        changed = scalar(
            con,
            """
            CREATE OR REPLACE TEMP TABLE actor_next AS
            WITH key_label AS (
                SELECT k.key, min(l.label) AS label
                FROM actor_keys k JOIN actor_label l USING (account_no) GROUP BY k.key)
            SELECT k.account_no, least(min(kl.label), any_value(l.label)) AS label
            FROM actor_keys k JOIN key_label kl USING (key) JOIN actor_label l USING (account_no)
            GROUP BY k.account_no;
            SELECT count(*) FROM actor_next n JOIN actor_label l USING (account_no) WHERE n.label <> l.label
        """,
        )
        con.execute("CREATE OR REPLACE TEMP TABLE actor_label AS SELECT * FROM actor_next")
        if not changed:
            break
    con.execute("""
        DELETE FROM actors WHERE actor_id IN (
            SELECT actor_id FROM actor_accounts WHERE account_no IN (SELECT account_no FROM actor_scope));
        DELETE FROM actor_accounts WHERE account_no IN (SELECT account_no FROM actor_scope);
    """)
    # link_reason: what ties the account to the others of its actor (keys it shares with them).
    con.execute("""
        INSERT INTO actor_accounts (actor_id, account_no, link_reason)
        WITH linking AS (SELECT key FROM actor_keys GROUP BY key HAVING count(DISTINCT account_no) > 1),
        reasons AS (
            SELECT account_no, string_agg(DISTINCT reason, ',' ORDER BY reason) AS link_reason
            FROM actor_keys WHERE key IN (SELECT key FROM linking) GROUP BY account_no)
        SELECT md5(l.label), l.account_no, coalesce(r.link_reason, 'own')
        FROM actor_label l LEFT JOIN reasons r USING (account_no)
    """)
    con.execute("""
        INSERT INTO actors (actor_id, kind, name, id_no, n_accounts, n_institutions)
        WITH members AS (
            SELECT a.actor_id, p.*,
                   row_number() OVER (PARTITION BY a.actor_id
                       ORDER BY (p.holder_kind = 'PERSON') DESC NULLS LAST, p.holder_id_no NULLS LAST,
                                p.account_no) AS rank
            FROM actor_accounts a JOIN parties p USING (account_no)
            WHERE a.account_no IN (SELECT account_no FROM actor_scope))
        SELECT actor_id,
               max(holder_kind) FILTER (WHERE rank = 1),
               max(holder_name) FILTER (WHERE rank = 1),
               max(holder_id_no) FILTER (WHERE rank = 1),
               count(*), count(DISTINCT institution_code)
        FROM members GROUP BY actor_id
    """)
    for table in ("actor_keys", "actor_label", "actor_next", "actor_scope"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
