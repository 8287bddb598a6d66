"""Rings: connected groups of flagged accounts, with the hub and the role of every account — what leads are made of.

Flagged accounts are joined when strong flows link them (directly, or through one account that exchanges
strong flows with two or more of them) or when one actor holds them; a group becomes a ring when one of its
accounts is hit by at least two rules beyond the graph shapes (G1–G7) and the anomaly score, a collector network
gathering into it, or structuring into it by several payers (T14), counting as one. The hub is the member that
gathers the most (in a ring without a core, the account its members' money comes from); collectors pass money
they received on to it; investors are individuals paying in; promoters receive repeated commission-like
payments; controllers take large drains or belong to the hub's actor.
A ring's evidence subgraph keeps its strongest flows and a sample of investor payments, bounded in size.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb
import networkx as nx

from detectors import neighbourhood
from detectors.base import Alert, Window, alert_id

ROLE_ORDER = ("hub", "collector", "controller", "promoter", "investor", "other")
COLLECTOR_NETWORK = "collector_network"
"""The founding signal and ring note of a collector network (DOMAIN §2.2 T1 seen across the collectors)."""
STRUCTURING_TYPOLOGY = "near_threshold"
"""T14's typology: its `pairs` metric counts the counterparties structuring with the account."""


@dataclass(frozen=True)
class RingParams:
    min_flow_cny: float = 50_000
    """Smallest total from one account to another that can join them (yuan)."""
    min_flow_share: float = 0.2
    """...and that total's share of the payer's outflow (fraction)."""
    collector_share: float = 0.5
    """Money passed on must be covered at least this much by money received, to count as passed through (fraction)."""
    controller_share: float = 0.1
    """A controller receives at least this share of what the ring pays out (fraction)."""
    min_commission_payments: int = 2
    """A promoter receives at least this many payments from the ring (payments)."""
    min_founding_rules: int = 2
    """A ring needs one account hit by at least this many distinct founding rules (rules)."""
    shape_rules: tuple[str, ...] = (
        "G1",
        "G2",
        "G3",
        "G4",
        "G5",
        "G6",
        "G7",
        "A1",
        "G8",
        "G9",
        "G10",
        "G11",
        "G12",
        "G13",
    )
    """Rules that describe only the shape of flows around an already flagged account, or an unexplained
    anomaly: they add to a ring's score and typologies but never found one (rule ids)."""
    max_evidence: int = 500
    """Payments in a ring's evidence subgraph (payments)."""
    investor_sample: int = 100
    """Of which a sample of investors' payments in (payments)."""
    elderly_age: int = 60
    """Age from which a payer counts as elderly (years)."""
    hub_min_participants: int = 10
    """An account gathering money from at least this many individuals is a core candidate (persons)."""
    forward_share: float = 0.7
    """One core account forwards at least this share of what it received to another, for the two to be one
    scheme (a collector passing its takings on to the hub) (fraction)."""
    structuring_min_counterparties: int = 3
    """T14 structuring into one account from at least this many counterparties: several people each splitting
    their payment under the reporting threshold into one account were told to, which a lone customer splitting
    his own is not; it counts as one more founding rule (counterparties; 0: off)."""
    network_min_collectors: int = 2
    """A collector network: at least this many accounts each pass on forward_share of the money they took in to
    one account, and the individuals paying them number at least hub_min_participants (accounts; 0: off)."""
    louvain_seed: int = 7
    """Seed of the Louvain community split, so the same data always splits the same way."""


@dataclass(frozen=True)
class _AlertView:
    alert_id: str
    rule_id: str
    typology: str
    score: float
    accounts: tuple[str, ...]
    metrics: dict


def build_rings(
    con: duckdb.DuckDBPyConnection, run_id: str, alerts: list, window: Window, params: RingParams = RingParams()
) -> tuple[list[dict], list[dict]]:
    """Rows for the warehouse tables `rings` and `ring_members` from one run's alerts; each ring row's `why`
    lists the notes for `ring_notes` (cores merged and why, a candidate group split and what it shared).

    `alerts`: the run's alerts, either rows as written (dicts with alert_id, rule_id, typology, subject_kind,
    subject, score, optionally accounts) or `Alert` records (ids from `base.alert_id`, strength as score).
    """
    views = _alert_views(con, run_id, alerts)
    by_account: dict[str, list[_AlertView]] = defaultdict(list)
    for view in views:
        for account in view.accounts:
            by_account[account].append(view)
    if not by_account:
        return [], []
    neighbourhood.flag_accounts(con, by_account, table="ring_seeds")
    nb = neighbourhood.load(con, window, seed_table="ring_seeds")
    flows = _pair_flows(nb.graph)
    con.execute("CREATE OR REPLACE TEMP TABLE ring_nodes (account_no VARCHAR)")
    neighbourhood.fill_table(con, "ring_nodes", {"account_no": list(nb.graph.nodes)})
    totals = _totals(con, window)
    actor_of = _actors(con)
    holders = _holders(con, actor_of)
    groups = _join(nb, flows, totals, actor_of, params)
    networks = _collector_networks(con, window, flows, totals, params)
    ring_rows: list[dict] = []
    member_rows: list[dict] = []
    staged: list = []
    whys: list = []
    founded: list[tuple[set[str], set[str], list[dict]]] = []
    for group in groups:
        # The founding rule holds for the candidate group (DOMAIN §6.2: one connected component); each scheme
        # split out of a founded group is a ring, even when the alerts fell on its siblings' accounts.
        if _founding_rules(nb, group, by_account, flows, totals, networks, params) < params.min_founding_rules:
            continue
        parts = split_schemes(nb, group, flows, totals, actor_of, params, holders, networks)
        group_key = hashlib.md5(min(group).encode("utf-8")).hexdigest()[:12]
        for members, core, why in parts:
            if len(parts) > 1:
                for note in why:
                    if note["kind"] == "split":
                        note["group"] = group_key
                if (
                    _founding_rules(nb, members, by_account, flows, totals, networks, params)
                    < params.min_founding_rules
                ):
                    why.append({"kind": "founded_with_group", "group": group_key, "parts": len(parts)})
            founded.append((members, core, why))
    # a flagged account in a group that founded no ring is in no ring, and may be one's hub
    grouped = set().union(*(members for members, _, _ in founded))
    hubs = [_hub(nb, members, core, flows, totals, grouped, params) for members, core, _ in founded]
    # An outside account draining into two rings would be the hub of both: it is the hub of neither.
    drained_twice = {hub for hub, count in Counter(hubs).items() if count > 1}
    for (members, core, why), hub in zip(founded, hubs):
        if hub in drained_twice:
            hub = _hub(nb, members, core, flows, totals, grouped | drained_twice, params)
        roles = _roles(nb, members | {hub}, hub, flows, totals, actor_of, params)
        if hub in networks:
            collectors, participants = networks[hub]
            why.append({"kind": COLLECTOR_NETWORK, "accounts": list(collectors), "participants": participants})
        staged.append(roles)
        whys.append(why)
    figures = _figures(con, window, staged, params)
    for roles, figure, why in zip(staged, figures, whys):
        hub = next(account for account, role in roles.items() if role == "hub")
        ring_id = hashlib.md5(hub.encode("utf-8")).hexdigest()
        # Investors' own alerts (a participant's night transfers) say nothing about the ring.
        ring_alerts = {
            view.alert_id: view
            for account, role in roles.items()
            if role != "investor"
            for view in by_account.get(account, [])
        }
        best: dict[str, float] = {}
        for view in ring_alerts.values():
            best[view.rule_id] = max(best.get(view.rule_id, 0.0), view.score)
        accounts = sorted(account for account, role in roles.items() if role != "investor")
        ring_rows.append(
            {
                "ring_id": ring_id,
                "run_id": run_id,
                "hub_account": hub,
                "member_accounts": accounts,
                "actor_ids": sorted({actor_of[a] for a in accounts if a in actor_of}),
                "alert_ids": sorted(ring_alerts),
                "typologies": sorted({v.typology for v in ring_alerts.values()}),
                "window_start": window.start,
                "window_end": window.end,
                "total_in": figure["total_in"],
                "total_out": figure["total_out"],
                "individual_payers": figure["individual_payers"],
                "elderly_share": figure["elderly_share"],
                "provinces": figure["provinces"],
                "score": round(sum(best.values()), 4),
                "evidence_payments": _evidence(nb, roles, flows, params),
                # why the ring holds what it holds (merged cores, a split): the `ring_notes` table, not `rings`
                "why": why,
            }
        )
        member_rows.extend(
            {"ring_id": ring_id, "run_id": run_id, "account_no": account, "role": role}
            for account, role in sorted(roles.items())
        )
    return ring_rows, member_rows


def _founding_rules(nb, members: set[str], by_account, flows, totals, networks, params: RingParams) -> int:
    """The most distinct founding rules on one account, counting those of the flagged collectors feeding it,
    and a collector network gathering into it as one more.

    Shops flagged for their elderly customers, joined to their wholesaler, are not a ring: someone in it must
    be hit by two fundraising rules, its own or its collectors' (a hub and the collectors passing it money).
    A hub whose collectors pass it the takings of many individuals is itself the scatter-in, concentrate-out
    shape of T1, spread over several accounts: with one rule on it or on its collectors it is a ring.
    """

    def founding(account: str) -> set[str]:
        return {view.rule_id for view in by_account.get(account, [])} - set(params.shape_rules)

    best = 0
    for account in members:
        rules = founding(account)
        if account in nb.graph:
            for sender in nb.graph.predecessors(account):
                forwarded = flows[(sender, account)]
                if (
                    sender in nb.seeds
                    and forwarded >= params.min_flow_cny
                    and forwarded >= params.collector_share * totals.get(sender, (0.0, 0.0))[0]
                ):
                    rules |= founding(sender)
        if account in networks:
            rules.add(COLLECTOR_NETWORK)
        if 0 < params.structuring_min_counterparties <= structuring_counterparties(by_account.get(account, [])):
            rules.add("structuring")
        best = max(best, len(rules))
    return best


def structuring_counterparties(views) -> int:
    """The most counterparties structuring with one account (T14's `pairs`) among these alerts, else 0."""
    return max(
        (int(view.metrics.get("pairs", 0)) for view in views if view.typology == STRUCTURING_TYPOLOGY), default=0
    )


def _collector_networks(
    con: duckdb.DuckDBPyConnection, window: Window, flows, totals, params: RingParams
) -> dict[str, tuple[tuple[str, ...], int]]:
    """Accounts gathering from the public through collectors: hub → (its collectors, the individuals paying them).

    A collector passes on to the hub at least forward_share of all it took in, and what individuals paid it
    covers at least collector_share of what it passed on: a farmer paying his co-op for seed out of his wages
    is no collector. A hub needs network_min_collectors of them, paid by at least hub_min_participants
    individuals in all (SQL, so a collector's payers count even where the neighbourhood did not expand it).
    """
    if params.network_min_collectors <= 0:
        return {}
    payees_of: dict[str, list[str]] = defaultdict(list)
    for payer, payee in flows:
        payees_of[payer].append(payee)
    fed: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for payer, payees in payees_of.items():
        if (passed_to := _passes_takings_on(payer, payees, flows, totals, params)) is not None:
            fed[passed_to[0]].append((payer, passed_to[1]))
    pairs = sorted(
        (hub, collector, amount)
        for hub, collectors in fed.items()
        if len(collectors) >= params.network_min_collectors
        for collector, amount in collectors
    )
    if not pairs:
        return {}
    con.execute("CREATE OR REPLACE TEMP TABLE ring_networks (hub VARCHAR, collector VARCHAR, forwarded DOUBLE)")
    hubs, collectors, amounts = (list(column) for column in zip(*pairs))
    neighbourhood.fill_table(con, "ring_networks", {"hub": hubs, "collector": collectors, "forwarded": amounts})
    rows = con.execute(
        """
        WITH paid_in AS (
            SELECT n.hub, n.collector, n.forwarded, p.amount_cny,
                   coalesce(p.payer_id_no, p.payer_account, p.payer_name) AS payer
            FROM ring_networks n JOIN payments p ON p.payee_account = n.collector
            WHERE p.txn_time >= $start AND p.txn_time < $end AND p.payer_kind = 'PERSON'
              AND coalesce(p.payer_account <> n.hub, true)
              AND NOT EXISTS (SELECT 1 FROM ring_networks m WHERE m.hub = n.hub AND m.collector = p.payer_account)),
        kept AS (
            SELECT hub, collector FROM paid_in GROUP BY hub, collector, forwarded
            HAVING sum(amount_cny) >= $share * forwarded)
        SELECT k.hub, list(DISTINCT k.collector ORDER BY k.collector), count(DISTINCT i.payer)
        FROM kept k JOIN paid_in i USING (hub, collector)
        GROUP BY k.hub
    """,
        {"start": window.start, "end": window.end, "share": params.collector_share},
    ).fetchall()
    return {
        hub: (tuple(collectors), int(participants))
        for hub, collectors, participants in rows
        if len(collectors) >= params.network_min_collectors and participants >= params.hub_min_participants
    }


def _passes_takings_on(payer: str, payees, flows, totals, params: RingParams) -> tuple[str, float] | None:
    """(the account, the amount) when `payer` passes at least forward_share of all it took in (and at least
    min_flow_cny) on to exactly one of `payees`, as a collector does; paying that much to each of several is
    paying from elsewhere (a member paying three co-ops) and passes nothing on."""
    taken_in = totals.get(payer, (0.0, 0.0))[0]
    passed_on = [
        (payee, amount)
        for payee in payees
        if (amount := flows.get((payer, payee), 0.0)) >= params.min_flow_cny
        and amount >= params.forward_share * taken_in
    ]
    return passed_on[0] if len(passed_on) == 1 else None


def _alert_views(con: duckdb.DuckDBPyConnection, run_id: str, alerts: list) -> list[_AlertView]:
    def field(alert: Any, name: str, default: Any = None) -> Any:
        return alert.get(name, default) if isinstance(alert, dict) else getattr(alert, name, default)

    views = []
    for alert in alerts:
        accounts = tuple(field(alert, "accounts") or ())
        if field(alert, "subject_kind") == "actor" and not accounts:
            accounts = tuple(
                row[0]
                for row in con.execute(
                    "SELECT account_no FROM actor_accounts WHERE actor_id = ?", [field(alert, "subject")]
                ).fetchall()
            )
        if field(alert, "subject_kind") != "actor":
            accounts = (field(alert, "subject"),)
        if isinstance(alert, Alert):
            identity, score = alert_id(run_id, alert), alert.strength
        else:
            identity, score = field(alert, "alert_id"), field(alert, "score", 0.0)
        metrics = field(alert, "metrics") or {}
        metrics = json.loads(metrics) if isinstance(metrics, str) else metrics
        views.append(
            _AlertView(identity, field(alert, "rule_id"), field(alert, "typology"), float(score), accounts, metrics)
        )
    return views


def _pair_flows(graph: nx.MultiDiGraph) -> dict[tuple[str, str], float]:
    """Each (payer, payee) pair's total, summed exactly (fsum): a running float sum ends in other last digits
    when the payments were loaded in another order (DuckDB returns the neighbourhood unordered), and two pairs
    of equal totals then swapped places in a ring's evidence from one run to the next."""
    amounts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for payer, payee, amount in graph.edges(data="amount"):
        amounts[(payer, payee)].append(amount)
    return defaultdict(float, {pair: math.fsum(paid) for pair, paid in amounts.items()})


def _totals(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, tuple[float, float]]:
    """(inflow, outflow) in the window of each account in `ring_nodes`, cash included, summed in SQL."""
    rows = con.execute(
        """
        SELECT account_no, sum(amount_in), sum(amount_out) FROM (
            SELECT payee_account AS account_no, amount_cny AS amount_in, 0 AS amount_out FROM payments
            WHERE txn_time >= ? AND txn_time < ? AND payee_account IN (SELECT account_no FROM ring_nodes)
            UNION ALL
            SELECT payer_account, 0, amount_cny FROM payments
            WHERE txn_time >= ? AND txn_time < ? AND payer_account IN (SELECT account_no FROM ring_nodes))
        GROUP BY account_no
    """,
        [window.start, window.end, window.start, window.end],
    ).fetchall()
    return {account: (float(amount_in), float(amount_out)) for account, amount_in, amount_out in rows}


def _actors(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The actor of each account in `ring_nodes` (empty until actors are resolved)."""
    return dict(
        con.execute("""
        SELECT account_no, actor_id FROM actor_accounts WHERE account_no IN (SELECT account_no FROM ring_nodes)
    """).fetchall()
    )


@dataclass(frozen=True)
class _Holders:
    """Who holds an account, told apart from who only handled it: `holder_of` groups an actor's accounts by
    every link but the agent (代办人); `agents_of` lists, per account, the holder groups of its agents."""

    holder_of: dict[str, str]
    agents_of: dict[str, set[str]]

    def one_controller(self, first: str, second: str) -> bool:
        """Held by one person or company, or one's holder is the other's agent: a participant who handed in
        cash at two schemes' counters is the agent on both accounts and holds neither, and joins nothing."""
        mine, theirs = self.holder_of.get(first, first), self.holder_of.get(second, second)
        return mine == theirs or mine in self.agents_of.get(second, ()) or theirs in self.agents_of.get(first, ())


def _holders(con: duckdb.DuckDBPyConnection, actor_of: dict[str, str]) -> _Holders:
    """The accounts of every actor of more than one account among `ring_nodes`, regrouped without agent links."""
    rows = con.execute("""
        WITH scope AS (
            SELECT account_no FROM actor_accounts WHERE actor_id IN (
                SELECT a.actor_id FROM actor_accounts a JOIN ring_nodes n USING (account_no)
                INTERSECT SELECT actor_id FROM actor_accounts GROUP BY actor_id HAVING count(*) > 1))
        SELECT account_no, key, reason FROM account_keys WHERE account_no IN (SELECT account_no FROM scope)
        ORDER BY account_no, key
    """).fetchall()
    linked = nx.Graph()
    agent_keys: dict[str, set[str]] = defaultdict(set)
    for account, key, reason in rows:
        linked.add_node(account)
        if reason == "agent":
            agent_keys[account].add(key)
        else:
            # a key the actor resolution ignored as too common joins accounts of different actors: keep it apart
            linked.add_edge(account, ("key", actor_of.get(account), key))
    holder_of: dict[str, str] = {}
    for component in nx.connected_components(linked):
        accounts = sorted(node for node in component if isinstance(node, str))
        for account in accounts:
            holder_of[account] = accounts[0]
    holder_of_key = {}
    for first, second in linked.edges():
        account, node = (first, second) if isinstance(first, str) else (second, first)
        holder_of_key[node[1:]] = holder_of[account]
    agents_of = {
        account: {
            holder_of_key[(actor_of.get(account), key)] for key in keys if (actor_of.get(account), key) in holder_of_key
        }
        for account, keys in agent_keys.items()
    }
    return _Holders(holder_of, agents_of)


def _join(nb: neighbourhood.Neighbourhood, flows, totals, actor_of, params: RingParams) -> list[set[str]]:
    """Groups of flagged accounts joined by strong flows (directly or through one shared account) or one actor."""

    def strong(payer: str, payee: str) -> bool:
        # A large share of what the payer pays out, of money it had received: an investor paying in from
        # savings never joins two schemes it invested in.
        amount = flows.get((payer, payee), 0.0)
        taken_in, paid_out = totals.get(payer, (0.0, 0.0))
        return (
            amount >= params.min_flow_cny
            and amount >= params.min_flow_share * paid_out
            and taken_in >= params.collector_share * amount
        )

    joined = nx.Graph()
    joined.add_nodes_from(nb.seeds)
    fed_by: dict[str, set[str]] = defaultdict(set)  # unflagged account -> flagged accounts paying it strongly
    feeds: dict[str, set[str]] = defaultdict(set)  # unflagged account -> flagged accounts it pays strongly
    for seed in nb.seeds:
        if seed not in nb.graph:
            continue
        for other in nb.graph.successors(seed):
            if strong(seed, other):
                (joined.add_edge(seed, other) if other in nb.seeds else fed_by[other].add(seed))
        for other in nb.graph.predecessors(seed):
            if strong(other, seed):
                (joined.add_edge(seed, other) if other in nb.seeds else feeds[other].add(seed))
    # An unflagged account joins flagged ones it gathers from (a hub), or passes money between.
    for other in set(fed_by) | set(feeds):
        if len(fed_by[other]) >= 2 or (fed_by[other] and feeds[other] - fed_by[other]):
            joined.add_edges_from((other, seed) for seed in fed_by[other] | feeds[other])
    by_actor: dict[str, list[str]] = defaultdict(list)
    for seed in nb.seeds:
        if seed in actor_of:
            by_actor[actor_of[seed]].append(seed)
    for accounts in by_actor.values():
        joined.add_edges_from(zip(accounts, accounts[1:]))
    return [set(component) for component in nx.connected_components(joined)]


def split_schemes(
    nb: neighbourhood.Neighbourhood,
    group: set[str],
    flows,
    totals,
    actor_of,
    params: RingParams,
    holders: _Holders | None = None,
    networks: dict[str, tuple[tuple[str, ...], int]] | None = None,
) -> list[tuple[set[str], set[str], list[dict]]]:
    """One candidate group as one or more schemes: (members, core, notes saying why it holds what it holds).

    The cores are the accounts that gather money from many individuals, directly or through a collector
    network (`networks`, whose hub gathers only from its collectors). Two cores are one scheme only when one
    forwards most of its takings to the other (a collector to its hub) or one actor holds both (an agent who
    holds neither, a participant handing in cash at both counters, does not count). An account that
    gathers nothing itself joins a core by forwarding only when the core's money is most of what it receives (a
    collectors' hub), not when it is a big business taking a little from a gatherer among much else. Anything else
    that touches several cores (a cash-out shop, a bank's or a processor's account, a big merchant) is shared,
    listed in each scheme it touches and never joining them. Members touching no core directly go with the
    scheme of their Louvain community in the group's money-flow graph (fixed seed).
    """
    graph = nb.graph
    participants = {
        account: {p for p in graph.predecessors(account) if p not in group and nb.is_person(p)}
        for account in group
        if account in graph
    }
    networks = networks or {}
    gatherers = sorted(
        a for a, people in participants.items() if len(people) >= params.hub_min_participants or a in networks
    )
    if not gatherers:
        return [(group, set(), [])]
    # A gatherer forwarding most of its takings to another member makes that member part of its core.
    forwards: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for payer in gatherers:
        members_paid = [payee for payee in graph.successors(payer) if payee in group]
        if (passed_to := _passes_takings_on(payer, members_paid, flows, totals, params)) is not None:
            forwards[passed_to[0]].append((payer, passed_to[1]))
    links = nx.Graph()
    links.add_nodes_from(gatherers)
    notes_of: dict[frozenset, list[dict]] = defaultdict(list)
    for payee, fed in sorted(forwards.items()):
        fed_total = sum(amount for _, amount in fed)
        if payee not in participants or (
            len(participants[payee]) < params.hub_min_participants
            and payee not in networks
            and fed_total < params.collector_share * totals.get(payee, (0.0, 0.0))[0]
        ):
            continue
        for payer, amount in fed:
            links.add_edge(payer, payee)
            notes_of[frozenset((payer, payee))].append(
                {"kind": "core_to_core", "accounts": [payer, payee], "amount": round(amount, 2)}
            )
    by_actor: dict[str, list[str]] = defaultdict(list)
    for account in links:
        if account in actor_of:
            by_actor[actor_of[account]].append(account)
    for actor, accounts in by_actor.items():
        for first, second in itertools.combinations(accounts, 2):
            if nx.has_path(links, first, second) or (holders and not holders.one_controller(first, second)):
                continue
            links.add_edge(first, second)
            notes_of[frozenset((first, second))].append(
                {"kind": "same_actor", "accounts": [first, second], "actor_id": actor}
            )
    cores = [set(component) for component in nx.connected_components(links)]
    if len(cores) == 1:
        merged = [note for notes in notes_of.values() for note in notes]
        return [(group, cores[0], merged)]
    core_of = {account: number for number, core in enumerate(cores) for account in core}
    parts: list[set[str]] = [set(core) for core in cores]
    shared: dict[str, set[int]] = {}
    loose = []
    for account in sorted(group - set(core_of)):
        touched = {
            core_of[other]
            for other in set(graph.successors(account) if account in graph else ())
            | set(graph.predecessors(account) if account in graph else ())
            if other in core_of
            and max(flows.get((account, other), 0.0), flows.get((other, account), 0.0)) >= params.min_flow_cny
        }
        if not touched and account in actor_of:
            touched = {core_of[c] for c in core_of if actor_of.get(c) == actor_of[account]}
        if touched:
            for number in touched:
                parts[number].add(account)
            if len(touched) > 1:
                shared[account] = touched
        else:
            loose.append(account)
    if loose:
        for account, number in _by_community(graph, group, core_of, loose, params).items():
            parts[number].add(account)
    result = []
    for number, part in enumerate(parts):
        notes = [note for pair, found in notes_of.items() if pair <= cores[number] for note in found]
        notes.append(
            {
                "kind": "split",
                "hubs": len(cores),
                "shared": sorted(account for account, numbers in shared.items() if number in numbers),
            }
        )
        result.append((part, cores[number], notes))
    return result


def _by_community(graph: nx.MultiDiGraph, group: set[str], core_of: dict[str, int], loose: list[str], params):
    """Each loose account's scheme: the core most present in its Louvain community, else the first core."""
    # Louvain's result follows the order nodes and edges are added in; a set's order changes with every
    # process (string hashing), so sort, or a second detect could split the same group differently.
    flat = nx.Graph()
    flat.add_nodes_from(sorted(group))
    for payer, payee, amount in sorted(graph.subgraph(group).edges(data="amount")):
        weight = flat.get_edge_data(payer, payee, {"weight": 0.0})["weight"]
        flat.add_edge(payer, payee, weight=weight + amount)
    chosen = {}
    for community in nx.community.louvain_communities(flat, weight="weight", seed=params.louvain_seed):
        present = sorted(core_of[a] for a in community if a in core_of)
        for account in loose:
            if account in community:
                chosen[account] = max(set(present), key=present.count) if present else min(core_of.values())
    return chosen


def _hub(
    nb: neighbourhood.Neighbourhood, members: set[str], core: set[str], flows, totals, grouped: set[str], params
) -> str:
    """The account gathering the ring's money: the core account receiving most, the gatherers and what they
    forward to, never a member that only does business with them (a wholesaler taking far more from its own
    customers). Without a core (no member gathers from many individuals in the reports), the member receiving
    most, unless it is a drain: most of its money comes from one account that pays out far more than the
    reports show it taking in (so not takings passed on, as a collector's are). The money was gathered there,
    out of the reports' sight, and that account is the hub, the members it pays its controllers. The payer is a
    member, or a flagged account in no ring paying two members or more and most of all it pays out to them
    (one investor's savings into a scheme go to the account that gathers, not to two of its controllers)."""
    received = {account: totals.get(account, (0.0, 0.0))[0] for account in members | core}
    hub = max(core & members or members, key=lambda a: (received.get(a, 0.0), a))
    graph = nb.graph
    if core & members or hub not in graph:
        return hub

    def may_gather(payer: str) -> bool:
        if payer in members:
            return True
        if payer not in nb.seeds or payer in grouped:
            return False
        paid = [flows[(payer, payee)] for payee in set(graph.successors(payer)) if payee in members]
        return len(paid) >= 2 and sum(paid) >= params.forward_share * totals.get(payer, (0.0, 0.0))[1]

    payers = [payer for payer in set(graph.predecessors(hub)) if may_gather(payer)]
    if not payers:
        return hub
    source = max(payers, key=lambda payer: (flows[(payer, hub)], payer))
    paid = flows[(source, hub)]
    if (
        paid >= params.collector_share * received.get(hub, 0.0)
        and totals.get(source, (0.0, 0.0))[0] < params.collector_share * paid
    ):
        return source
    return hub


def _roles(nb: neighbourhood.Neighbourhood, members: set[str], hub: str, flows, totals, actor_of, params: RingParams):
    graph = nb.graph
    roles = {account: "other" for account in members}
    roles[hub] = "hub"
    if hub not in graph:
        return roles
    for sender in graph.predecessors(hub):
        forwarded, (taken_in, sender_paid_out) = flows[(sender, hub)], totals.get(sender, (0.0, 0.0))
        # A collector passes money it received on to the hub, a large share of all it pays out.
        if (
            roles.get(sender, "other") == "other"
            and forwarded >= params.min_flow_cny
            and forwarded >= params.min_flow_share * sender_paid_out
            and taken_in >= params.collector_share * forwarded
        ):
            roles[sender] = "collector"
    base = {account for account, role in roles.items() if role in ("hub", "collector")}
    for account in base:
        for payer in graph.predecessors(account):
            if payer not in roles and nb.is_person(payer):
                roles[payer] = "investor"
    paid_out: dict[str, float] = defaultdict(float)
    payments_out: dict[str, int] = defaultdict(int)
    for account in base:
        for _, payee, amount in graph.out_edges(account, data="amount"):
            if payee not in base:
                paid_out[payee] += amount
                payments_out[payee] += 1
    ring_out = sum(totals.get(account, (0.0, 0.0))[1] for account in base) or 1.0
    hub_actor = actor_of.get(hub)

    def gathers(account: str) -> bool:
        # An account gathering from many individuals of its own is another scheme's core (or a big merchant):
        # money paid to it makes it neither this scheme's controller nor its promoter, so no lead spans both.
        people = (p for p in graph.predecessors(account) if p not in base and nb.is_person(p))
        return sum(1 for _ in zip(range(params.hub_min_participants), people)) >= params.hub_min_participants

    for payee, amount in paid_out.items():
        if roles.get(payee) not in (None, "other"):
            continue
        if not (hub_actor and actor_of.get(payee) == hub_actor) and gathers(payee):
            continue
        if amount >= params.controller_share * ring_out or (hub_actor and actor_of.get(payee) == hub_actor):
            roles[payee] = "controller"
        elif payee not in roles and nb.is_person(payee) and payments_out[payee] >= params.min_commission_payments:
            roles[payee] = "promoter"
    for account, role in roles.items():
        if role == "other" and hub_actor and actor_of.get(account) == hub_actor:
            roles[account] = "controller"
    return roles


def _figures(
    con: duckdb.DuckDBPyConnection, window: Window, staged: list[dict[str, str]], params: RingParams
) -> list[dict]:
    """Totals in and out of each ring's own accounts, its individual payers, their ages and provinces (SQL)."""
    con.execute("CREATE OR REPLACE TEMP TABLE ring_inner (ring_no INTEGER, account_no VARCHAR)")
    inner = [
        (ring_no, account)
        for ring_no, roles in enumerate(staged)
        for account, role in roles.items()
        if role in ("hub", "collector", "other")
    ]
    neighbourhood.fill_table(
        con,
        "ring_inner",
        {"ring_no": [ring_no for ring_no, _ in inner], "account_no": [account for _, account in inner]},
    )
    elderly_born_before = window.end.replace(year=window.end.year - params.elderly_age)
    rows = con.execute(
        """
        WITH inbound AS (
            SELECT r.ring_no, p.amount_cny, p.payer_kind, p.payer_birth, p.payer_region,
                   coalesce(p.payer_id_no, p.payer_account, p.payer_name) AS payer
            FROM payments p JOIN ring_inner r ON p.payee_account = r.account_no
            WHERE p.txn_time >= $start AND p.txn_time < $end
              AND NOT EXISTS (SELECT 1 FROM ring_inner s WHERE s.ring_no = r.ring_no AND s.account_no = p.payer_account)),
        outbound AS (
            SELECT r.ring_no, sum(p.amount_cny) AS total_out
            FROM payments p JOIN ring_inner r ON p.payer_account = r.account_no
            WHERE p.txn_time >= $start AND p.txn_time < $end
              AND NOT EXISTS (SELECT 1 FROM ring_inner s WHERE s.ring_no = r.ring_no AND s.account_no = p.payee_account)
            GROUP BY r.ring_no),
        payers AS (
            SELECT ring_no, payer, any_value(payer_birth) AS birth, any_value(payer_region) AS region
            FROM inbound WHERE payer_kind = 'PERSON' AND payer IS NOT NULL GROUP BY ring_no, payer)
        SELECT n.ring_no,
               coalesce((SELECT sum(amount_cny) FROM inbound i WHERE i.ring_no = n.ring_no), 0),
               coalesce(o.total_out, 0),
               (SELECT count(*) FROM payers y WHERE y.ring_no = n.ring_no),
               coalesce((SELECT avg(CASE WHEN birth <= $born_before THEN 1.0 ELSE 0.0 END)
                         FROM payers y WHERE y.ring_no = n.ring_no AND birth IS NOT NULL), 0),
               coalesce((SELECT list(DISTINCT substr(region, 1, 2) ORDER BY substr(region, 1, 2))
                         FROM payers y WHERE y.ring_no = n.ring_no AND region IS NOT NULL), [])
        FROM (SELECT DISTINCT ring_no FROM ring_inner) n LEFT JOIN outbound o USING (ring_no)
        ORDER BY n.ring_no
    """,
        {"start": window.start, "end": window.end, "born_before": elderly_born_before.date()},
    ).fetchall()
    by_ring = {row[0]: row for row in rows}
    figures = []
    for ring_no in range(len(staged)):
        _, total_in, total_out, payers, elderly, provinces = by_ring.get(ring_no, (ring_no, 0, 0, 0, 0.0, []))
        figures.append(
            {
                "total_in": round(float(total_in), 2),
                "total_out": round(float(total_out), 2),
                "individual_payers": int(payers),
                "elderly_share": round(float(elderly), 4),
                "provinces": list(provinces),
            }
        )
    return figures


def _evidence(nb: neighbourhood.Neighbourhood, roles: dict[str, str], flows, params: RingParams) -> list[str]:
    """The strongest flows among the ring's own accounts, then a sample of investors' payments in."""
    graph = nb.graph
    own = {account for account, role in roles.items() if role != "investor"}
    # the pairs among the ring's own accounts from their own payees, not a pass over every pair of the
    # neighbourhood per ring (that grew with rings × flagged neighbourhood)
    pairs = sorted(
        (
            (flows[(payer, payee)], (payer, payee))
            for payer in own
            if payer in graph
            for payee in graph.successors(payer)
            if payee in own
        ),
        reverse=True,
    )
    strongest: list[str] = []
    budget = params.max_evidence - params.investor_sample
    for _, (payer, payee) in pairs:
        # equal amounts in payment-id order: the order payments were loaded in must not change a ring
        for key, _data in sorted(graph[payer][payee].items(), key=lambda item: (-item[1]["amount"], item[0])):
            if len(strongest) >= budget:
                break
            strongest.append(key)
    investors = sorted(
        (data["time"], key)
        for account, role in roles.items()
        if role == "investor"
        for _, payee, key, data in graph.out_edges(account, keys=True, data=True)
        if payee in own
    )
    sample = [key for _, key in investors[: params.max_evidence - len(strongest)]]
    return strongest + sample
